"""The bell of one file in this process: waiting fetches sleep on it, and every write that makes a job available rings it.

A ring wakes this process's waiting fetches at once and, through wakeup.py, the waiting fetches of
every other process listening on the file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from sidequest.stores.sqlite.wakeup import SAFETY_POLL, Endpoint, Listeners, wake_folder, warn_once


class Bell:
    """Wakes this process's waiting fetches when a job becomes available in one file.

    A ring from this process releases the waiters here and sends a wake-up to every other listening
    process. The first fetch to wait (the reader) blocks on this process's socket itself, so a wake-up
    from elsewhere reaches it with one thread switch; other fetches waiting at the same time block on
    a lock of their own, which a ring (or the reader, when woken from elsewhere) releases. One timed
    lock acquire or socket read per poll is the cheapest wait Python offers (a Condition costs about
    twice as much CPU per wake-up, which matters for idle workers).
    """

    def __init__(self, db_path: str) -> None:
        self._lock = threading.Lock()
        self._gates: set[threading.Lock] = set()
        self.rings = 0
        self.folder = wake_folder(db_path)
        self._listeners = Listeners(self.folder)
        self._endpoint: Endpoint | None = None
        self._reading = False  # whether a waiting fetch blocks on the endpoint
        self._endpoint_lock = threading.Lock()
        self._cannot_listen = False
        self._users = 0

    @property
    def listening(self) -> bool:
        """Whether wake-ups from other processes reach this process."""
        return self._endpoint is not None

    def ring(self) -> None:
        """A job became available: wake the waiters here and in every other listening process."""
        endpoint = self._endpoint
        if self._ring_here() and endpoint is not None:
            endpoint.poke()
        self._listeners.notify(endpoint.path if endpoint is not None else None)

    def _ring_here(self) -> bool:
        """Release this process's gates; whether a fetch is reading the socket (and needs a poke)."""
        with self._lock:
            self.rings += 1
            for gate in self._gates:
                if gate.locked():
                    gate.release()
            return self._reading

    def wait(
        self, rings: int, seconds: float, poll: float, data_version: Callable[[], int], version: int
    ) -> None:
        """Return on a ring after rings, when data_version() is no longer version, or after seconds.

        data_version() is read every poll seconds while this process cannot listen for wake-ups,
        every SAFETY_POLL (or poll, if longer) while it can.
        """
        end = time.monotonic() + seconds
        started = self._listen()
        endpoint = self._endpoint
        gate = threading.Lock()
        gate.acquire()
        with self._lock:
            if self.rings != rings:
                return
            reader = endpoint is not None and endpoint is self._endpoint and not self._reading
            if reader:
                self._reading = True
            else:
                self._gates.add(gate)
        woken = False
        try:
            # A push committed before our socket existed was sent to nobody: look once now.
            if started and data_version() != version:
                return
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return
                if reader and endpoint is not None:
                    woken = endpoint.wait(min(max(poll, SAFETY_POLL), left))
                else:
                    step = max(poll, SAFETY_POLL) if self.listening else poll
                    woken = gate.acquire(timeout=min(step, left))
                if woken or data_version() != version:
                    return
        finally:
            with self._lock:
                if reader:
                    self._reading = False
                else:
                    self._gates.discard(gate)
            if reader and endpoint is not None:
                if endpoint.closing:
                    endpoint.close()
                elif woken:
                    self._ring_here()  # the other fetches waiting here: from elsewhere, only we heard it

    def _listen(self) -> bool:
        """Listen for other processes' wake-ups unless already listening; whether it started now."""
        if self._endpoint is not None or self._cannot_listen:
            return False
        with self._endpoint_lock:
            if self._endpoint is not None or self._cannot_listen:
                return False
            try:
                self._endpoint = Endpoint(self.folder)
            except OSError as exc:
                warn_once(
                    self.folder,
                    "cannot listen for wake-ups in %s (%s); idle workers will find jobs pushed by other "
                    "processes by polling the SQLite file instead, within about 20 ms",
                    self.folder,
                    exc.strerror or exc,
                )
                self._cannot_listen = True
                return False
            return True

    def hold(self) -> Bell:
        """Count one more store using this bell (see release)."""
        with self._endpoint_lock:
            self._users += 1
        return self

    def release(self) -> None:
        """One store closed; the last one stops listening, so a closed store leaves no socket behind."""
        with self._endpoint_lock:
            self._users = max(0, self._users - 1)
            if self._users:
                return
            self._listeners.close()  # the next store on the file connects again
            endpoint = self._endpoint
            if endpoint is None:
                return
            with self._lock:
                self._endpoint = None
                endpoint.closing = self._reading  # the reading fetch closes it on its way out
        if endpoint.closing:
            endpoint.poke()
        else:
            endpoint.close()

    def forget_endpoint(self) -> None:
        """In a forked child: let go of the parent's socket without removing it."""
        endpoint = self._endpoint
        if endpoint is not None:
            endpoint.close()


_bells: dict[str, Bell] = {}
_bells_lock = threading.Lock()


def bell_for(path: str) -> Bell:
    """The one bell of a file in this process, shared by every store opened on it; release it on close."""
    key = os.path.realpath(path)
    with _bells_lock:
        bell = _bells.get(key)
        if bell is None:
            bell = _bells[key] = Bell(key)
    return bell.hold()


def _forget_after_fork() -> None:
    """A child starts with fresh bells: a lock held by another parent thread at fork would never be released."""
    global _bells_lock
    for bell in list(_bells.values()):
        bell.forget_endpoint()
    _bells_lock = threading.Lock()
    _bells.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
