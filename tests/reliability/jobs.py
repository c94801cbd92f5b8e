"""Jobs for the reliability suite: each appends "<tag> <pid>" to the ledger when it finishes.

The ledger file is named by $SIDEQUEST_RELIABILITY_LEDGER; appends of one short line are atomic on a
local file system, so any number of threads and processes can share it. ``reliability.long`` also
writes "<tag> <pid>" to the starts file (ledger + ".starts") before it sleeps; with
$SIDEQUEST_RELIABILITY_FAST set it does not sleep, so a second worker can finish pushed-back jobs fast.
"""

from __future__ import annotations

import os
import time

from sidequest import job


def _append(path: str, line: str) -> None:
    with open(path, "a") as ledger:
        ledger.write(line + "\n")


def _ledger() -> str:
    return os.environ["SIDEQUEST_RELIABILITY_LEDGER"]


@job(name="reliability.mark")
def mark(tag: str, seconds: float = 0.0) -> None:
    if seconds:
        time.sleep(seconds)
    _append(_ledger(), f"{tag} {os.getpid()}")


@job(name="reliability.long")
def long(tag: str, seconds: float) -> None:
    _append(_ledger() + ".starts", f"{tag} {os.getpid()}")
    if not os.environ.get("SIDEQUEST_RELIABILITY_FAST"):
        time.sleep(seconds)
    _append(_ledger(), f"{tag} {os.getpid()}")


@job(name="reliability.fail", retry=0)
def fail(tag: str) -> None:
    raise RuntimeError(f"{tag} fails on purpose")


@job(name="reliability.blob")
def blob(tag: str, data: object) -> None:
    """Takes an argument of any size or shape and records that it ran."""
    _append(_ledger(), f"{tag} {os.getpid()}")
