"""Fetching: the queue order of each fetch, and what this process holds in its in-progress list.

QueueOrder is strict (as listed) or weighted random (Sidekiq's shuffle-then-uniq): with weights, a
queue of weight w is tried first with probability w / sum of weights, so busy high-weight queues
cannot starve the others completely.

Fetcher makes the store calls that move jobs into this process's in-progress list and keeps the
ledger of every job fetched and not yet acknowledged or pushed back. The ledger is what lets it
find jobs a fetch moved whose reply was lost (see return_unknown).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence

from sidequest.errors import StoreError
from sidequest.runtime.store_retry import StoreRetry
from sidequest.stores.base import FetchUnderWay, Store, Work

logger = logging.getLogger("sidequest")

#: After a failed fetch, wait this long before the next (the outage is logged once, not per fetch).
FETCH_OUTAGE_PAUSE = 0.5


class QueueOrder:
    def __init__(self, queues: Sequence[tuple[str, int]], *, strict: bool) -> None:
        self.names = list(dict.fromkeys(name for name, _ in queues))
        weights: dict[str, int] = {}
        for name, weight in queues:
            weights[name] = weights.get(name, 0) + max(weight, 1)
        self.strict = strict or len(self.names) == 1
        self._expanded = [name for name in self.names for _ in range(weights[name])]
        self._equal = len(set(weights.values())) == 1
        self._rng = random.Random()

    def next(self) -> list[str]:
        """The queues to try for one fetch, in order."""
        if self.strict:
            return self.names
        if self._equal:
            order = list(self.names)
            self._rng.shuffle(order)
            return order
        expanded = list(self._expanded)
        self._rng.shuffle(expanded)
        return list(dict.fromkeys(expanded))


class Fetcher:
    """One thread at a time calls fetch or begin (the manager's fetch role); any thread may collect,
    let_go or requeue."""

    def __init__(
        self, store: Store, identity: str, order: QueueOrder, store_retry: StoreRetry, *, wait: float
    ) -> None:
        self.store = store
        self.identity = identity
        self.order = order
        self.store_retry = store_retry
        self.wait = wait
        #: Jobs fetched so far (written by the fetching thread, or by whoever collects its fetch).
        self.fetched = 0
        #: When (monotonic) the last fetch started, if it found nothing; None after one that found work.
        self.nothing_since: float | None = None
        # (queue, payload) keys: a tuple hashes in C, the Work dataclass would hash in Python
        self._held: Counter[tuple[str, str]] = Counter()
        self._held_lock = threading.Lock()
        self._failed = False
        # a fetch begun and not collected, and when it started
        self._under_way: tuple[FetchUnderWay, float] | None = None
        self._collect_lock = threading.Lock()

    def fetch(self, limit: int) -> list[Work]:
        """Up to limit jobs, waiting up to ``wait`` seconds for one; [] when none came or the store failed."""
        started = time.monotonic()
        try:
            if self._failed:
                self.return_unknown()
            works = self.store.fetch(self.identity, self.order.next(), limit, self.wait)
        except StoreError as exc:
            self._outage(exc)
            return []
        self._received(works, started)
        return works

    def begin(self, limit: int) -> None:
        """Send a fetch for up to limit jobs without waiting for it; collect() takes its jobs.

        Only the fetching thread begins, and never while a fetch is under way.
        """
        started = time.monotonic()
        try:
            if self._failed:
                self.return_unknown()
            under_way = self.store.fetch_begin(self.identity, self.order.next(), limit)
        except StoreError as exc:
            self._outage(exc)
            return
        self._under_way = (under_way, started)

    @property
    def under_way(self) -> bool:
        """A fetch was begun and not collected yet."""
        return self._under_way is not None

    def arrived(self) -> bool:
        """The fetch under way can be collected without waiting (True when none is under way)."""
        under_way = self._under_way
        return under_way is None or under_way[0].arrived()

    def collect(self) -> list[Work] | None:
        """The jobs of the fetch under way, waiting for its reply if need be; None when there was none
        (another thread collected it: the watch does when the fetching thread is stuck in a job)."""
        with self._collect_lock:
            if self._under_way is None:
                return None
            under_way, started = self._under_way
            self._under_way = None
            try:
                works = under_way.result()
            except StoreError as exc:
                self._outage(exc)
                return []
            self._received(works, started)
            return works

    def _received(self, works: list[Work], started: float) -> None:
        self.store_retry.recovered()
        self.nothing_since = None if works else started
        if works:
            self.fetched += len(works)
            keys = [(work.queue, work.payload) for work in works]
            with self._held_lock:
                self._held.update(keys)

    def _outage(self, exc: StoreError) -> None:
        """A fetch failed: its reply may be lost with jobs in it (see return_unknown); pause a little."""
        self._failed = True
        self.store_retry.outage(exc, "fetch")
        self.nothing_since = None
        time.sleep(FETCH_OUTAGE_PAUSE)

    def let_go(self, works: list[Work]) -> None:
        """Forget works that left our in-progress list (acknowledged or pushed back)."""
        keys = [(work.queue, work.payload) for work in works]
        with self._held_lock:
            held = self._held
            for key in keys:
                count = held.pop(key, 0)
                if count > 1:
                    held[key] = count - 1

    def hold_again(self, works: list[Work]) -> None:
        """Count works as held again (jobs kept after a let_go, see Manager.forget_recovered)."""
        keys = [(work.queue, work.payload) for work in works]
        with self._held_lock:
            self._held.update(keys)

    def requeue(self, works: list[Work], why: str) -> None:
        """Push works back to the front of their queues now; on a store error recovery returns them later."""
        if not works:
            return
        self.let_go(works)
        try:
            self.store.requeue(self.identity, works)
            logger.info("pushed %d job(s) back to their queues (%s)", len(works), why)
        except StoreError as exc:
            # They stay in our in-progress list; recovery returns them once our heartbeat expires.
            logger.error(
                "could not push %d job(s) back (%s): %s; they will be recovered from the in-progress list",
                len(works),
                why,
                exc,
            )

    def return_unknown(self) -> None:
        """After a failed fetch, push back jobs in our in-progress list that this process never received.

        A fetch whose connection dropped after Redis ran it moved jobs into our list, but the reply
        carrying them was lost: no thread here will run or ack them, and no other process recovers
        them while we are alive. Only one thread fetches at a time (the caller), so anything in the
        list that is not held is such a job. What we hold is read before the list: a job acked in
        between is then in neither, never in the list alone.
        """
        with self._held_lock:
            held = Counter(self._held)
        listed = Counter((work.queue, work.payload) for work in self.store.in_progress(self.identity))
        unknown = [Work(queue, payload) for queue, payload in (listed - held).elements()]
        self._failed = False
        if unknown:
            logger.warning(
                "%d job(s) were fetched by a call whose reply was lost; pushing them back", len(unknown)
            )
            self.requeue(unknown, "reply lost")
