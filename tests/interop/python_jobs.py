"""Python jobs for the interop tests, loaded by `sidequest worker -r`.

Each appends a JSON line to the ledger named by $LEDGER, the same file Ruby's HardJob writes to, so a
test sees which runtime ran which job with which arguments.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sidequest import Job


def _write(entry: dict[str, Any]) -> None:
    with open(os.environ["LEDGER"], "a") as ledger:
        ledger.write(json.dumps(entry) + "\n")


class HardJob(Job, name="HardJob"):
    """The Python body of the job class Ruby enqueues by name."""

    def perform(self, *args: Any) -> None:
        _write(
            {
                "runtime": "python",
                "jid": self.jid,
                "args": list(args),
                "moved_by": self.payload.get("moved_by"),
            }
        )


class FailingJob(Job, name="FailingJob", retry=3, backtrace=True):
    def perform(self, n: int) -> None:
        _write({"runtime": "python", "jid": self.jid, "args": [n]})
        raise ValueError(f"boom {n}")


class DoomedJob(Job, name="DoomedJob", retry=0):
    def perform(self, n: int) -> None:
        raise RuntimeError(f"fatal {n}")


class SleepyJob(Job, name="SleepyJob"):
    """Runs until the file named by its argument exists (at most 30 s), so tests see it busy."""

    def perform(self, release_file: str) -> None:
        _write({"runtime": "python", "jid": self.jid, "args": [release_file], "started": True})
        deadline = time.monotonic() + 30
        while not Path(release_file).exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class FailJob(Job, name="FailJob"):
    """Sidekiq 6.4's fixture job (tests/interop/fixtures/sidekiq-6.4/gen/jobs.rb), still failing in Python."""

    def perform(self, n: int) -> None:
        _write({"runtime": "python", "jid": self.jid, "args": [n]})
        raise ValueError(f"boom {n} again")
