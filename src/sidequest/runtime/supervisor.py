"""``--processes N``: one supervisor forks N worker processes and keeps them running.

Python runs one thread at a time per process, so CPU-bound jobs need processes to use every core.
The supervisor holds no store connection and runs no jobs: it forks children (each a full worker
with its own identity, heartbeat and in-progress list), restarts a child that dies or whose memory
passes ``max_rss_mb``, and forwards TERM/INT/TSTP/TTIN to all of them. A restarted child's unfinished
jobs are recovered by the usual liveness rule, so a crash or an out-of-memory kill loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from types import FrameType

from sidequest.config import Config
from sidequest.runtime.heartbeat import rss_kb
from sidequest.runtime.launcher import EXIT_STORE_UNUSABLE

logger = logging.getLogger("sidequest")

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGTSTP, signal.SIGTTIN)
#: A child that dies sooner than this after its start (a bad import, a crash at boot) is restarted
#: after a growing pause, up to MAX_RESTART_DELAY, instead of being forked again in a tight loop.
QUICK_DEATH = 2.0
MAX_RESTART_DELAY = 10.0


class Supervisor:
    def __init__(self, config: Config, *, burst: bool = False) -> None:
        self.config = config
        self.burst = burst
        self.count = config.settings.processes
        self.max_rss_kb = config.settings.max_rss_mb * 1024
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.retiring: set[int] = set()
        self.started_at: dict[int, float] = {}  # slot -> monotonic start of its current child
        self.quick_deaths: dict[int, int] = {}  # slot -> deaths in a row within QUICK_DEATH of start
        self.restarts: dict[int, float] = {}  # slot -> monotonic time its next child may start

    def run(self) -> int:
        for sig in FORWARDED:
            signal.signal(sig, self._forward)
        logger.info("supervisor %d starting %d worker processes", os.getpid(), self.count)
        exit_code = 0
        for slot in range(self.count):
            self._fork(slot)
        while self.children or (self.restarts and not self.stopping):
            self._start_due()
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = 0, 0
            if pid == 0:
                self._check_memory()
                time.sleep(0.2)
                continue
            slot = self.children.pop(pid, -1)
            self.retiring.discard(pid)
            if slot < 0:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self.burst and code == EXIT_STORE_UNUSABLE:
                exit_code = code  # a new child would wait for the same store in vain
                continue
            if self.stopping or (self.burst and code == 0):
                continue
            if time.monotonic() - self.started_at.get(slot, 0.0) < QUICK_DEATH:
                self.quick_deaths[slot] = self.quick_deaths.get(slot, 0) + 1
            else:
                self.quick_deaths[slot] = 0
            delay = (
                min(MAX_RESTART_DELAY, 0.5 * 2 ** (self.quick_deaths[slot] - 1))
                if self.quick_deaths[slot]
                else 0.0
            )
            logger.warning("worker process %d exited with %s; starting a new one in %.1fs", pid, code, delay)
            self.restarts[slot] = time.monotonic() + delay
        return exit_code

    def _start_due(self) -> None:
        if self.stopping:
            self.restarts.clear()
            return
        clock = time.monotonic()
        for slot, due in list(self.restarts.items()):
            if due <= clock:
                del self.restarts[slot]
                self._fork(slot)

    def _fork(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child: a complete worker of its own
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                from sidequest.runtime import signals
                from sidequest.runtime.launcher import Launcher

                launcher = Launcher(self.config, burst=self.burst)
                signals.install(launcher)
                code = launcher.run()
            except BaseException:
                logger.exception("worker process crashed")
            finally:
                os._exit(code)
        self.children[pid] = slot
        self.started_at[slot] = time.monotonic()

    def _check_memory(self) -> None:
        if not self.max_rss_kb or self.stopping:
            return
        for pid in list(self.children):
            rss = rss_kb(pid)
            if rss > self.max_rss_kb and pid not in self.retiring:
                self.retiring.add(pid)
                logger.warning(
                    "worker process %d uses %d MB (limit %d MB); stopping it gracefully",
                    pid,
                    rss // 1024,
                    self.max_rss_kb // 1024,
                )
                os.kill(pid, signal.SIGTERM)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
