"""Jobs for worker subprocess tests: each appends to the ledger file named by $SIDEQUEST_TEST_LEDGER."""

from __future__ import annotations

import os
import sys
import time

from sidequest import job


def _write(line: str) -> None:
    with open(os.environ["SIDEQUEST_TEST_LEDGER"], "a") as ledger:
        ledger.write(line + "\n")


@job(name="tests.record")
def record(tag: str) -> None:
    _write(tag)


@job(name="tests.sleepy")
def sleepy(seconds: float, tag: str) -> None:
    _write(f"start {tag}")
    time.sleep(seconds)
    _write(tag)


@job(name="tests.exits", retry=1)
def exits(tag: str) -> None:
    _write(f"start {tag}")
    sys.exit(3)


@job(name="tests.interrupted", retry=1)
def interrupted(tag: str) -> None:
    _write(f"start {tag}")
    raise KeyboardInterrupt(tag)


@job(name="tests.async_exits", retry=1)
async def async_exits(tag: str) -> None:
    _write(f"start {tag}")
    raise SystemExit(4)


@job(name="tests.timed")
def timed(seconds: float, tag: str) -> None:
    _write(f"start {tag} {os.getpid()}")
    time.sleep(seconds)
    _write(f"end {tag} {os.getpid()}")


@job(name="tests.hard_exit")
def hard_exit(tag: str) -> None:
    """Kills its own process, as a segfault in an extension or the OOM killer would."""
    _write(f"start {tag}")
    os._exit(1)
