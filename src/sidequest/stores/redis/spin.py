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

Polling only pays while a core is idle: on a machine with no idle core, a polling thread takes the CPU
that redis-server (or the worker) needs to produce the reply, and makes it later. So a thread polls
only when the machine's idle time over the last second amounts to IDLE_CORES_TO_SPIN cores or more
(from /proc/stat, read at most once a second per process; elsewhere from the load average).

Each poll is a system call, which releases the GIL, so other threads of the process still run.
"""

from __future__ import annotations

import os
import select
import socket
from time import monotonic, perf_counter

#: How long a pushing thread polls for the reply before it sleeps in recv.
SPIN_SECONDS = 0.00025
#: Spins in a row that end without the reply before polling pauses (replies on this connection are slow).
MISSES_TO_BACK_OFF = 3
#: Calls that sleep at once after such a run of misses, before polling is tried again.
BACKOFF_CALLS = 100
#: Idle CPU, in cores, the machine must have had over the last sample for a thread to poll.
IDLE_CORES_TO_SPIN = 1.0
#: How long one sample of the machine's idle time stands before it is taken again.
IDLE_SAMPLE_SECONDS = 1.0


class IdleCores:
    """The machine's idle CPU, in cores, over the last IDLE_SAMPLE_SECONDS (shared by a process's threads).

    Reading /proc/stat costs tens of microseconds, so it is read at most once per sample period; a
    polling decision costs one clock read. Threads racing on a refresh only read the file twice.
    """

    __slots__ = ("_at", "_ticks", "cores")

    def __init__(self) -> None:
        self._at = float("-inf")
        self._ticks: tuple[int, int] | None = None  # (idle, total) jiffies at the last sample
        self.cores = float(os.cpu_count() or 1)

    def now(self) -> float:
        """Idle cores over the last sample period, refreshed when the period has passed."""
        clock = monotonic()
        if clock - self._at >= IDLE_SAMPLE_SECONDS:
            self._at = clock
            self.cores = self._sample()
        return self.cores

    def _sample(self) -> float:
        cpus = os.cpu_count() or 1
        try:
            with open("/proc/stat", "rb") as stat:
                fields = stat.readline().split()[1:9]  # user nice system idle iowait irq softirq steal
            ticks = [int(value) for value in fields]
            idle, total = ticks[3] + ticks[4], sum(ticks)
        except (OSError, ValueError, IndexError):
            return self._from_load_average(cpus)
        previous, self._ticks = self._ticks, (idle, total)
        if previous is None or total <= previous[1]:
            # the first sample of this process: no interval yet to measure over
            return self._from_load_average(cpus)
        return cpus * (idle - previous[0]) / (total - previous[1])

    @staticmethod
    def _from_load_average(cpus: int) -> float:
        try:
            return max(0.0, cpus - os.getloadavg()[0])
        except OSError:  # no load average on this platform: behave as before, polling allowed
            return float(cpus)


#: One reading per process (after a fork the child's first refresh measures from the parent's sample).
IDLE = IdleCores()


class ReplyWait:
    """The polling state of one connection (one thread's held connection)."""

    __slots__ = ("_fd", "_poll", "misses", "skip")

    def __init__(self) -> None:
        self._fd = -1
        self._poll: select.poll | None = None
        self.misses = 0
        self.skip = 0

    def until_readable(self, sock: socket.socket | None) -> bool:
        """Poll sock until it is readable or the spin runs out; True when the reply is there.

        False at once (no polling) when the machine has no idle core to poll with.
        """
        if sock is None:
            return False
        if self.skip:
            self.skip -= 1
            return False
        if IDLE.now() < IDLE_CORES_TO_SPIN:
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
