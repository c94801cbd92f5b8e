"""Jobs the dashboard tests' worker runs; each run appends a line to $SIDEQUEST_TEST_LEDGER."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sidequest import job


def _write(line: str) -> None:
    with open(os.environ["SIDEQUEST_TEST_LEDGER"], "a") as ledger:
        ledger.write(line + "\n")


def _ran(line: str) -> bool:
    path = Path(os.environ["SIDEQUEST_TEST_LEDGER"])
    return path.exists() and line in path.read_text().splitlines()


@job(name="web.record")
def record(tag: str) -> None:
    _write(tag)


@job(name="web.fail_once", retry=5, retry_in=lambda count, exc: 3600)
def fail_once(tag: str) -> None:
    """Fails on its first run and waits an hour in the retry set, so only "Retry now" runs it again."""
    if not _ran(f"attempt {tag}"):
        _write(f"attempt {tag}")
        raise RuntimeError(f"first attempt of {tag} fails")
    _write(f"done {tag}")


@job(name="web.echo_error", retry=5, retry_in=lambda count, exc: 3600, backtrace=True)
def echo_error(text: str) -> None:
    """Fails with its argument as the error message (hostile text ends up in args and error)."""
    raise ValueError(text)


@job(name="web.doomed", retry=0)
def doomed(tag: str) -> None:
    raise RuntimeError(f"{tag} cannot succeed")


@job(name="web.hold")
def hold(release: str) -> None:
    """Runs until a file named release appears beside the ledger, so the Busy page has something to show."""
    _write(f"holding {release}")
    path = Path(os.environ["SIDEQUEST_TEST_LEDGER"]).parent / release
    deadline = time.monotonic() + 120
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
