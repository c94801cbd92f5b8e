"""A job with no schedule in code: the tests declare its schedule in the settings file."""

from __future__ import annotations

import os

from sidequest import Job


class Stamp(Job, name="tests.stamp"):
    def perform(self, label: str) -> None:
        with open(os.environ["SIDEQUEST_TEST_LEDGER"], "a") as ledger:
            ledger.write(f"{label} {self.payload['periodic']['tick']!r}\n")
