"""The job pipeline of one worker process: a fetcher, N processor threads and an acknowledger.

    fetcher  --(batches of Work)-->  ready queue  -->  processor threads  -->  ack queue  -->  acknowledger

The fetcher moves up to ``fetch_batch`` jobs per store call into this process's in-progress list and
keeps at most 2 x concurrency jobs in hand, so a slow job never holds back the others and idle
workers elsewhere still find work. The acknowledger removes finished jobs from the in-progress
list in batches (one round trip for many jobs) and counts them. ``async def`` jobs run on one event
loop owned by this manager; each occupies a processor thread while it runs, so they share the same
concurrency limit as sync jobs.

Delivery is at least once: a job leaves the in-progress list only after its outcome is stored. On
stop, jobs not yet started are pushed back at once, and jobs still running at the deadline are pushed
back too; if one of those finishes later it may run twice, which is better than losing it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.logging import thread_id
from sidequest.runtime.fetch import QueueOrder
from sidequest.runtime.processor import Processor
from sidequest.stores.base import Store, Work

logger = logging.getLogger("sidequest")
T = TypeVar("T")


class HardStop(Exception):
    """Raised out of store retries once the shutdown deadline has passed."""


class Manager:
    def __init__(self, config: Config, store: Store, identity: str, *, burst: bool = False) -> None:
        settings = config.settings
        self.config = config
        self.store = store
        self.identity = identity
        self.burst = burst
        self.concurrency = settings.concurrency
        self.capacity = settings.concurrency * 2
        self.fetch_batch = settings.fetch_batch
        self.order = QueueOrder(settings.queues, strict=settings.strict)
        self.processor = Processor(config, store, self._run_coroutine, self.keep_trying)

        self._ready: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._acks: queue.SimpleQueue[tuple[Work, bool] | None] = queue.SimpleQueue()
        self._room = threading.Condition()
        self._in_hand = 0
        self.running: dict[str, tuple[Work, int]] = {}
        self._counts_lock = threading.Lock()
        self._processed = 0
        self._failed = 0
        self.quieted = threading.Event()
        self._stopping = False
        self._hard_stop = False
        self._last_fetch_empty = False
        self._outage_logged = False
        self._threads: list[threading.Thread] = []
        self._acker: threading.Thread | None = None
        self._fetcher: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._loop_thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        for index in range(self.concurrency):
            self._spawn(self._process_loop, f"sidequest-processor-{index}")
        self._acker = self._spawn(self._ack_loop, "sidequest-acker")
        self._fetcher = self._spawn(self._fetch_loop, "sidequest-fetcher")

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def quiet(self) -> None:
        """Stop fetching new jobs; running and already fetched jobs carry on."""
        self.quieted.set()
        with self._room:
            self._room.notify_all()

    def stop(self, deadline: float) -> None:
        """Quiet, push back unstarted jobs, wait for running ones until deadline, push back the rest."""
        self.quiet()
        self._stopping = True
        # The fetcher may be blocked in a fetch; let it finish (it pushes back what it got after
        # quiet) before we push jobs back, or its blocking fetch could take them again.
        if self._fetcher is not None:
            self._fetcher.join(timeout=max(2.0, deadline - time.monotonic()))
        self._requeue(self._drain_ready(), "not started")
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)
        self._requeue(self._drain_ready(), "not started")
        leftover = [work for work, _ in list(self.running.values())]
        if leftover:
            logger.warning(
                "%d job(s) still running at the shutdown deadline; pushing them back to their queues",
                len(leftover),
            )
            self._hard_stop = True
            self._requeue(leftover, "still running")
        for _ in range(self.concurrency):
            self._ready.put(None)
        self._acks.put(None)
        if self._acker is not None:
            self._acker.join(timeout=5)
        self._close_event_loop()

    @property
    def idle(self) -> bool:
        """True when the last fetch found nothing and no job is in hand (burst mode's exit test)."""
        return self._last_fetch_empty and self._in_hand == 0 and self._acks.empty()

    def take_counts(self) -> tuple[int, int]:
        """Processed and failed counts since the last call (the heartbeat flushes them)."""
        with self._counts_lock:
            counts = (self._processed, self._failed)
            self._processed = self._failed = 0
        return counts

    def return_counts(self, processed: int, failed: int) -> None:
        """Give back counts a heartbeat could not store, so the next one adds them."""
        with self._counts_lock:
            self._processed += processed
            self._failed += failed

    # ---- the three loops -----------------------------------------------------------------------
    def _fetch_loop(self) -> None:
        timeout = 0.05 if self.burst else 1.0
        while not self.quieted.is_set():
            with self._room:
                while self._in_hand >= self.capacity and not self.quieted.is_set():
                    self._room.wait(0.5)
                room = min(self.capacity - self._in_hand, self.fetch_batch)
            if self.quieted.is_set():
                break
            try:
                works = self.store.fetch(self.identity, self.order.next(), room, timeout)
            except StoreError as exc:
                self._outage(exc, "fetch")
                continue
            self._recovered_from_outage()
            if not works:
                self._last_fetch_empty = True
                continue
            if self.quieted.is_set():
                self._requeue(works, "fetched while quieting")
                break
            with self._room:
                self._in_hand += len(works)
            self._last_fetch_empty = False
            for work in works:
                self._ready.put(work)

    def _process_loop(self) -> None:
        tid = thread_id()
        process = self.processor.process
        while True:
            work = self._ready.get()
            if work is None:
                return
            if self._stopping:
                self._requeue([work], "not started")
                self._release(1)
                continue
            self.running[tid] = (work, int(time.time()))
            try:
                failed = process(work)
            except HardStop:
                return
            except Exception as exc:  # a bug of ours: keep the job (not acked) and the thread alive
                self.config.handle_error(exc, {"context": "Internal exception!", "jobstr": work.payload})
                self.running.pop(tid, None)
                self._release(1)
                continue
            self.running.pop(tid, None)
            self._acks.put((work, failed))
            self._release(1)

    def _ack_loop(self) -> None:
        acks = self._acks
        stopping = False
        while not stopping:
            item = acks.get()
            batch: list[tuple[Work, bool]] = []
            while item is not None:
                batch.append(item)
                if len(batch) >= 1000:
                    break
                try:
                    item = acks.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            if not batch:
                continue
            works = [work for work, _ in batch]
            try:
                self.keep_trying(functools.partial(self.store.ack, self.identity, works), "acknowledge finished jobs")
            except HardStop:
                return
            failed = sum(1 for _, flag in batch if flag)
            with self._counts_lock:
                self._processed += len(batch)
                self._failed += failed

    # ---- helpers -------------------------------------------------------------------------------
    def _release(self, count: int) -> None:
        with self._room:
            self._in_hand -= count
            self._room.notify()

    def _drain_ready(self) -> list[Work]:
        drained: list[Work] = []
        while True:
            try:
                work = self._ready.get_nowait()
            except queue.Empty:
                break
            if work is not None:
                drained.append(work)
        if drained:
            self._release(len(drained))
        return drained

    def _requeue(self, works: list[Work], why: str) -> None:
        if not works:
            return
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

    def forget_recovered(self) -> None:
        """After our process record vanished (frozen past its TTL), drop fetched-but-unstarted jobs that
        another process already recovered, so they do not run twice. Jobs still ours are kept."""
        unstarted = self._drain_ready()
        if not unstarted:
            return
        try:
            still_ours = Counter(self.store.in_progress(self.identity))
        except StoreError:
            still_ours = Counter(unstarted)
        kept: list[Work] = []
        for work in unstarted:
            if still_ours[work] > 0:
                still_ours[work] -= 1
                kept.append(work)
        dropped = len(unstarted) - len(kept)
        if dropped:
            logger.warning(
                "%d fetched job(s) were recovered by another process while this one was unresponsive; not running them here",
                dropped,
            )
        with self._room:
            self._in_hand += len(kept)
        for work in kept:
            self._ready.put(work)

    def keep_trying(self, operation: Callable[[], T], what: str) -> T:
        """Run a store operation until it succeeds: a job's outcome must never be dropped on the floor."""
        delay = 0.05
        while True:
            try:
                result = operation()
            except StoreError as exc:
                if self._hard_stop:
                    raise HardStop(what) from exc
                self._outage(exc, what)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._recovered_from_outage()
            return result

    def _outage(self, exc: Exception, what: str) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.error("store unavailable during %s: %s; retrying until it is back", what, exc)
        if what == "fetch":
            time.sleep(0.5)

    def _recovered_from_outage(self) -> None:
        if self._outage_logged:
            self._outage_logged = False
            logger.warning("store is reachable again")

    def _close_event_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    def _run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._event_loop()).result()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._loop_lock:
                if self._loop is None:
                    new_loop = asyncio.new_event_loop()
                    self._loop_thread = self._spawn(new_loop.run_forever, "sidequest-event-loop")
                    self._loop = new_loop
                loop = self._loop
        return loop
