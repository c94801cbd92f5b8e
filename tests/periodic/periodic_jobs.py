"""Jobs and a seconds-level schedule for the multi-worker tests; each run appends to $SIDEQUEST_TEST_LEDGER."""

from __future__ import annotations

import os

import sidequest
from sidequest import Job


class Tick(Job, name="tests.tick"):
    """Writes which tick it serves and its jid: one line per run (a rerun after a kill repeats the jid)."""

    def perform(self, label: str) -> None:
        tick = self.payload["periodic"]["tick"]
        with open(os.environ["SIDEQUEST_TEST_LEDGER"], "a") as ledger:
            ledger.write(f"{label} {tick!r} {self.jid}\n")


sidequest.periodic("* * * * * *", Tick, name="every-second", args=["sec"])
