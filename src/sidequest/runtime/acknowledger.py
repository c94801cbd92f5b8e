"""The acknowledger: removes finished jobs from this process's in-progress list, many per store call.

A job leaves the in-progress list only here, after its outcome is stored, which is the whole of the
at-least-once guarantee. One round trip costs as much CPU as dozens of no-op jobs, so finished jobs
gather for up to ACK_GATHER (or until ACK_BATCH are waiting) and go in one call. The processed and
failed counts are kept here, in memory, until the heartbeat stores them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable

from sidequest.runtime.store_retry import HardStop, StoreRetry
from sidequest.stores.base import Store, Work

#: The acknowledger waits this long for a batch of ACK_BATCH to gather (a finished job is already
#: counted out of the hand, so this delays only its removal from the in-progress list).
ACK_GATHER = 0.001
ACK_BATCH = 100


class Acknowledger:
    """Runs on its own thread ("sidequest-acker"); processor threads hand it finished jobs with done().

    Between batches it runs watch(), the manager's look at the rest of the pipeline (stalled threads,
    jobs to push back once quiet); watch returns how long it may then sleep if nothing finishes.
    """

    def __init__(
        self,
        store: Store,
        identity: str,
        store_retry: StoreRetry,
        let_go: Callable[[list[Work]], None],
        watch: Callable[[], float],
    ) -> None:
        self.store = store
        self.identity = identity
        self.store_retry = store_retry
        self.let_go = let_go
        self.watch = watch
        self._done: deque[tuple[Work, bool]] = deque()
        #: jobs taken off _done whose acknowledgement is not stored yet
        self._acking = False
        #: when (monotonic) the last acknowledgement was stored: it may have pushed jobs (batch reports)
        self.acked_at = 0.0
        self.waiting = False
        self._wakeup = threading.Event()
        self._closing = False
        self._counts_lock = threading.Lock()
        self._processed = 0
        self._failed = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sidequest-acker", daemon=True)
        self._thread.start()

    def done(self, work: Work, failed: bool) -> None:
        """A job's outcome is stored: acknowledge it (failed says whether it counts as failed)."""
        self._done.append((work, failed))
        if self.waiting:
            self._wakeup.set()

    def wake(self) -> None:
        """Run watch() now instead of after the current wait."""
        self._wakeup.set()

    @property
    def pending(self) -> bool:
        """Finished jobs not yet acknowledged (waiting, or in the store call now)."""
        return self._acking or bool(self._done)

    def close(self) -> None:
        """Acknowledge what is left, then end the thread."""
        self._closing = True
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

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

    def _loop(self) -> None:
        done = self._done
        while True:
            idle_wait = self.watch()
            if not done:
                if self._closing:
                    return
                # done() sets the wake-up only while this flag is up: clear, re-check, then wait
                self.waiting = True
                self._wakeup.clear()
                if not done and not self._closing:
                    self._wakeup.wait(idle_wait)
                self.waiting = False
                continue
            if len(done) < ACK_BATCH and not self._closing:
                time.sleep(ACK_GATHER)  # let a batch gather first
            batch: list[tuple[Work, bool]] = []
            self._acking = True  # before the pops: pending never looks false while a batch is in hand
            while done and len(batch) < 1000:
                batch.append(done.popleft())
            works = [work for work, _ in batch]
            try:
                self.store_retry.keep_trying(
                    functools.partial(self.store.ack, self.identity, works), "acknowledge finished jobs"
                )
            except HardStop:
                return
            finally:
                self.acked_at = time.monotonic()
                self._acking = False
            self.let_go(works)
            failed = sum(1 for _, flag in batch if flag)
            with self._counts_lock:
                self._processed += len(batch)
                self._failed += failed
