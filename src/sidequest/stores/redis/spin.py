"""Waiting for a reply due any moment: poll the socket briefly before sleeping in recv.

On virtual machines, putting a thread to sleep and waking it when the reply arrives costs about as
much as the round trip itself (numbers: docs/benchmarks.md, "Measurements behind design choices").
An enqueue is one round trip that its caller
waits for, so the pushing thread polls for up to SPIN_SECONDS first. The sleep and the wake-up it
saves cost CPU too, so a spin that ends with the reply costs about as much CPU as sleeping would. Where
replies take longer than a spin (Redis across a network), polling would only burn CPU: after
MISSES_TO_BACK_OFF spins in a row end without the reply, the next BACKOFF_CALLS calls on that
connection sleep at once. (One miss is not enough: on a busy machine even a local Redis's reply
is sometimes late.)

Each poll is a system call, which releases the GIL, so other threads of the process still run.
"""

from __future__ import annotations

import select
import socket
from time import perf_counter

#: How long a pushing thread polls for the reply before it sleeps in recv.
SPIN_SECONDS = 0.00025
#: Spins in a row that end without the reply before polling pauses (replies on this connection are slow).
MISSES_TO_BACK_OFF = 3
#: Calls that sleep at once after such a run of misses, before polling is tried again.
BACKOFF_CALLS = 100


class ReplyWait:
    """The polling state of one connection (one thread's held connection)."""

    __slots__ = ("_fd", "_poll", "misses", "skip")

    def __init__(self) -> None:
        self._fd = -1
        self._poll: select.poll | None = None
        self.misses = 0
        self.skip = 0

    def until_readable(self, sock: socket.socket | None) -> bool:
        """Poll sock until it is readable or the spin runs out; True when the reply is there."""
        if sock is None:
            return False
        if self.skip:
            self.skip -= 1
            return False
        fd = sock.fileno()
        if fd != self._fd or self._poll is None:
            self._poll = select.poll()
            self._poll.register(fd, select.POLLIN)
            self._fd = fd
        poll = self._poll.poll
        until = perf_counter() + SPIN_SECONDS
        while not poll(0):
            if perf_counter() > until:
                self.misses += 1
                if self.misses >= MISSES_TO_BACK_OFF:
                    self.misses, self.skip = 0, BACKOFF_CALLS
                return False
        self.misses = 0
        return True
