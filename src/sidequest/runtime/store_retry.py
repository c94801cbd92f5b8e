"""The worker's policy for a store that stops answering: keep trying what must not be lost, say so once.

A job's outcome (acknowledgement, retry entry, dead entry) is retried until the store takes it, with
backoff; the outage is logged once when it starts and once when it ends, however many threads run
into it. Only a hard stop (the shutdown deadline has passed) gives up, by raising HardStop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sidequest._time import backoff
from sidequest.errors import StoreError

logger = logging.getLogger("sidequest")
T = TypeVar("T")


class HardStop(Exception):
    """Raised out of store retries once the shutdown deadline has passed."""


class StoreRetry:
    """Shared by the threads of one worker process that write to the store."""

    def __init__(self) -> None:
        #: Set at the shutdown deadline: retries give up (what they held is recovered later).
        self.hard_stop = False
        self._outage_logged = False

    def keep_trying(self, operation: Callable[[], T], what: str) -> T:
        """Run a store operation until it succeeds: a job's outcome must never be dropped on the floor."""
        for delay in backoff(0.05, 2.0):
            try:
                result = operation()
            except StoreError as exc:
                if self.hard_stop:
                    raise HardStop(what) from exc
                self.outage(exc, what)
                time.sleep(delay)
                continue
            self.recovered()
            return result
        raise AssertionError("unreachable: backoff never ends")

    def outage(self, exc: Exception, what: str) -> None:
        """Note a failed store call; the first one of an outage is logged."""
        if not self._outage_logged:
            self._outage_logged = True
            logger.error("store unavailable during %s: %s; retrying until it is back", what, exc)

    def recovered(self) -> None:
        """Note a store call that worked; logged once when it ends an outage."""
        if self._outage_logged:
            self._outage_logged = False
            logger.warning("store is reachable again")
