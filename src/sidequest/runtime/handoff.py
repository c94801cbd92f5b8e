"""The hand-off from the fetch role to the processor threads: jobs waiting, and threads parked for them.

Handing work between threads is what a Python worker pays for most after round trips: each wake-up
of a blocked thread is a futex call and a GIL hand-off. So waiting jobs sit in a deque (append and
popleft are atomic), a thread that finds work takes it without blocking, and a parked thread sleeps
on a lock of its own and is woken only when no awake thread can take the work. When jobs wait and
no job started or finished for STALL seconds, the awake threads are all in slow or blocking jobs:
unstall wakes as many more as are awake (at least one, at most one per waiting job).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from sidequest.stores.base import Work

#: Jobs waiting this long while no job starts or finishes wake more threads.
STALL = 0.001


class Seat:
    """A worker thread's place while parked: the lock it sleeps on, and whether it was woken to fetch."""

    __slots__ = ("wake", "lead")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.lead = False


class Handoff:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.ready: deque[Work] = deque()
        self.parked: list[Seat] = []
        self.closed = False
        self._lock = threading.Lock()
        self._progress_seen, self._progress_at = 0, time.monotonic()

    def put(self, works: list[Work], wake: bool = True) -> bool:
        """Queue works; wake one thread only when every thread but the fetching one is parked (and
        wake is set: the fetching thread runs what it puts itself).

        Returns True when some threads are awake: they may be stuck in slow jobs, so the caller lets
        the stall check look.
        """
        self.ready.extend(works)
        self._progress_at = time.monotonic()  # the stall clock starts when work is waiting
        if wake and len(self.parked) >= self.concurrency:
            self.wake(1)
            return False
        return True

    def park(self, seat: Seat) -> bool:
        """Put seat on the parked list, unless work arrived or the pipeline is closing (then False).

        Checked under the lock the waker (and close) takes, so no wake-up is lost between the check
        and the sleep.
        """
        with self._lock:
            if self.ready or self.closed:
                return False
            self.parked.append(seat)
        return True

    def close(self) -> None:
        """Wake every parked thread and park none from now on: the pipeline is stopping."""
        with self._lock:
            self.closed = True
            woken, self.parked = self.parked, []
        for seat in woken:
            seat.wake.release()

    def wake(self, count: int) -> None:
        if count <= 0:
            return
        with self._lock:
            woken = self.parked[-count:] if count < len(self.parked) else self.parked
            self.parked = self.parked[: len(self.parked) - len(woken)]
        for seat in woken:
            seat.wake.release()

    def unpark_any(self) -> Seat | None:
        """Take the most recently parked seat off the list (None when no thread is parked)."""
        with self._lock:
            return self.parked.pop() if self.parked else None

    def unpark(self, seat: Seat) -> bool:
        """Take seat off the parked list; False when its thread is not parked (busy with a job)."""
        with self._lock:
            try:
                self.parked.remove(seat)
            except ValueError:
                return False
        return True

    def drain(self) -> list[Work]:
        """Take every waiting job out."""
        drained: list[Work] = []
        while True:
            try:
                drained.append(self.ready.popleft())
            except IndexError:
                return drained

    @property
    def stuck_possible(self) -> bool:
        """Jobs wait while threads are parked: the stall check should look again soon."""
        return bool(self.ready and self.parked)

    def unstall(self, progress: int) -> bool:
        """Wake more threads when jobs wait and progress (jobs started + finished) stood still for STALL.

        Returns whether progress stood still for STALL, jobs waiting or not.
        """
        clock = time.monotonic()
        if progress != self._progress_seen:
            self._progress_seen, self._progress_at = progress, clock
            return False
        if clock - self._progress_at < STALL:
            return False
        if self.ready and self.parked:
            awake = max(1, self.concurrency - len(self.parked))
            self.wake(min(awake, len(self.ready)))
            self._progress_at = clock
        return True
