"""A plain sidequest job in a Django app: sidequest_worker imports every app's jobs.py."""

from __future__ import annotations

from pathlib import Path

from sidequest import job


@job
def touch(path: str) -> None:
    Path(path).write_text("touched\n")
