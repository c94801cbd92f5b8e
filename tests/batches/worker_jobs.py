"""Jobs for the batch tests with real workers; every run appends a line to $SIDEQUEST_TEST_LEDGER.

``row(n, kill, pause)`` may SIGKILL its own worker once (a marker file next to the ledger remembers
it): "before" kills inside the job, before it reported to its batch; "after" kills once its report
was written, before the worker acknowledged it (a worker writes a job's report in its ack's step).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sidequest import Job, job
from sidequest.stores.base import Work
from sidequest.stores.redis.store import RedisStore
from sidequest.stores.sqlite.store import SQLiteStore


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


def _dies_after_reporting(original: Callable[..., int]) -> Callable[..., int]:
    """Wrap a store's ack: write the batch reports (as ack does first), then SIGKILL the worker once
    per "after" job before the acknowledgement itself, the window where a second report must
    change nothing."""

    def ack(store: Any, identity: str, works: Sequence[Work]) -> int:
        store.flush_batch_reports()
        for work in works:
            payload = json.loads(work.payload)
            args = payload.get("args") or []
            if payload.get("class") == "tests.batches.row" and args[1] == "after":
                _write(f"reported {args[0]} {os.getpid()}")
                if _first_time(f"after-{args[0]}"):
                    os.kill(os.getpid(), signal.SIGKILL)
        return original(store, identity, works)

    return ack


# Only inside the test's worker processes: the test process imports this module too (for the job
# names), and a patched ack there would leak into every later test of the session.
if os.environ.get("SIDEQUEST_TEST_KILL_AFTER_REPORT") == "1":
    RedisStore.ack = _dies_after_reporting(RedisStore.ack)  # type: ignore[method-assign]
    SQLiteStore.ack = _dies_after_reporting(SQLiteStore.ack)  # type: ignore[method-assign]


class Finished(Job, name="tests.batches.Finished", queue="callbacks"):
    def perform(self, bid: str, options: dict[str, Any]) -> None:
        _write(f"callback {options['event']} {bid} {self.jid}")
