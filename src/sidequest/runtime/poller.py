"""Moves due jobs from the retry and schedule sets to their queues.

Sidekiq polls on average every 5 s; we sleep exactly until the earliest known due time, capped at
``poll_interval`` (0.5 s by default) so jobs added meanwhile are noticed, and so a job scheduled for T
starts within milliseconds of T on an idle worker. Each move is atomic in the store, so any number of
pollers (Ruby ones included) never move one job twice.
"""

from __future__ import annotations

import logging
import threading
import time

from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.stores.base import Store

logger = logging.getLogger("sidequest")

SETS = ("retry", "schedule")
BATCH = 100


class Poller:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.interval = config.settings.poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.nothing_due = False

    def poll_once(self) -> float | None:
        """Move everything due now; return the next due time (or None when both sets are empty)."""
        for name in SETS:
            while self.store.promote_due(name, time.time(), BATCH) == BATCH and not self._stop.is_set():
                pass
        next_due = self.store.next_due(SETS)
        self.nothing_due = next_due is None or next_due > time.time()
        return next_due

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sidequest-poller", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                next_due = self.poll_once()
            except StoreError as exc:
                if not failing:
                    logger.error("scheduler: %s", exc)
                    failing = True
                self._stop.wait(1.0)
                continue
            if failing:
                logger.warning("scheduler: store is reachable again")
                failing = False
            wait = self.interval
            if next_due is not None:
                wait = max(0.0, min(wait, next_due - time.time()))
            self._stop.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
