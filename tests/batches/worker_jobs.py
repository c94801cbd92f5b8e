"""Jobs for the batch tests with real workers; every run appends a line to $SIDEQUEST_TEST_LEDGER.

``row(n, kill)`` may SIGKILL its own worker once (a marker file next to the ledger remembers it):
"before" kills inside the job, before it reported to its batch; "after" kills after it reported to its
batch but before the worker acknowledged it, the window where a second report must change nothing.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import sidequest
from sidequest import Job, job


def _write(line: str) -> None:
    with open(os.environ["SIDEQUEST_TEST_LEDGER"], "a") as ledger:
        ledger.write(line + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())


def _first_time(tag: str) -> bool:
    marker = Path(os.environ["SIDEQUEST_TEST_LEDGER"]).with_name(f"killed-{tag}")
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


@job(name="tests.batches.row")
def row(n: int, kill: str, pause: float) -> None:
    _write(f"row {n} {os.getpid()}")
    time.sleep(pause)
    if kill == "before" and _first_time(f"before-{n}"):
        os.kill(os.getpid(), signal.SIGKILL)


class KillAfterReport:
    """Outermost server middleware: the batch report (inside) has happened when call_next returns."""

    options: ClassVar[frozenset[str]] = frozenset()

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        result = call_next()
        args = payload.get("args") or []
        if payload.get("class") == "tests.batches.row" and args[1] == "after":
            _write(f"reported {args[0]} {os.getpid()}")
            if _first_time(f"after-{args[0]}"):
                os.kill(os.getpid(), signal.SIGKILL)
        return result


sidequest.get_config().server_middleware.prepend(KillAfterReport)


class Finished(Job, name="tests.batches.Finished"):
    def perform(self, bid: str, options: dict[str, Any]) -> None:
        _write(f"callback {options['event']} {bid} {self.jid}")
