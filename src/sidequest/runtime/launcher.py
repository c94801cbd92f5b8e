"""One worker process from start to exit: heartbeat, poller and job pipeline, quiet and stop.

Start: wait for the store (one clear line, then retries), write the first heartbeat *before* the
first fetch (so no one mistakes us for dead and takes our jobs), recover jobs left by dead
processes, fire "startup", then run. Stop (TERM/INT, remote stop, or burst mode finding nothing left
to do): quiet -> wait up to the timeout for running jobs -> push back what is unfinished -> flush
counters and leave the registry -> fire "shutdown" -> exit 0.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
import traceback

from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.periodic.scheduler import Scheduler
from sidequest.runtime.heartbeat import Heartbeat, hostname
from sidequest.runtime.manager import Manager
from sidequest.runtime.poller import Poller
from sidequest.stores import redact

logger = logging.getLogger("sidequest")


def new_identity() -> str:
    """hostname:pid:nonce, Sidekiq's process identity."""
    return f"{hostname()}:{os.getpid()}:{secrets.token_hex(6)}"


class Launcher:
    def __init__(self, config: Config, *, burst: bool = False) -> None:
        self.config = config
        self.settings = config.settings
        self.burst = burst
        self.identity = new_identity()
        self.store = config.store
        self.manager = Manager(config, self.store, self.identity, burst=burst)
        self.poller = Poller(config, self.store)
        self.periodic = Scheduler(config, self.store)  # a bad schedule fails here, at worker start
        self.heartbeat = Heartbeat(config, self.store, self.manager, self.identity, self.handle_signal)
        self._stop_requested = threading.Event()
        self._quiet_requested = False

    # ---- control (signals, remote signals, API) ----------------------------------------------------
    def handle_signal(self, name: str) -> None:
        """Act on a signal name, whether from the OS or popped from the store by the heartbeat."""
        if name in ("TERM", "INT"):
            self.request_stop()
        elif name == "TSTP":
            self.quiet()
        elif name in ("TTIN", "INFO"):
            dump_threads()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def quiet(self) -> None:
        if self._quiet_requested:
            return
        self._quiet_requested = True
        logger.info("quieting: no new jobs will be fetched")
        self.manager.quiet()
        self.poller.stop()
        self.periodic.stop()
        self.heartbeat.quiet = True
        self.config.fire("quiet")

    # ---- lifecycle -------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped (or, in burst mode, until nothing is left to do); returns the exit code."""
        if not self._connect():
            return 1
        self.start()
        try:
            if self.burst:
                self._wait_until_drained()
            else:
                while not self._stop_requested.wait(0.5):
                    pass
        finally:
            self.stop()
        return 0

    def _connect(self) -> bool:
        url = redact(self.store.url)
        delay = 0.5
        announced = False
        while not self._stop_requested.is_set():
            try:
                if self.heartbeat.beat_once():
                    if announced:
                        logger.warning("store %s is reachable; starting", url)
                    return True
            except StoreError:
                pass
            if not announced:
                logger.error("cannot reach the store at %s; retrying with backoff (Ctrl-C to give up)", url)
                announced = True
            self._stop_requested.wait(delay)
            delay = min(delay * 2, 5.0)
        return False

    def start(self) -> None:
        settings = self.settings
        logger.info(
            "sidequest worker %s starting: store=%s queues=%s concurrency=%d%s",
            self.identity,
            redact(self.store.url),
            ",".join(settings.queue_names),
            settings.concurrency,
            " (burst)" if self.burst else "",
        )
        try:
            recovered = self.store.recover()
            if recovered:
                logger.warning("recovered %d job(s) left in progress by processes that died", recovered)
        except StoreError as exc:
            logger.error("could not check for jobs left by dead processes: %s", exc)
        self.config.fire("startup")
        self.manager.start()
        self.poller.start()
        self.periodic.start()
        self.heartbeat.start()

    def _wait_until_drained(self) -> None:
        """Burst mode: stop once queues and due scheduled jobs stay empty for two checks in a row."""
        empty_checks = 0
        while not self._stop_requested.wait(0.05):
            try:
                self.poller.poll_once()
            except StoreError:
                empty_checks = 0
                continue
            if self.manager.idle and self.poller.nothing_due:
                empty_checks += 1
                if empty_checks >= 2:
                    return
            else:
                empty_checks = 0

    def stop(self) -> None:
        deadline = time.monotonic() + self.settings.timeout
        logger.info("shutting down: waiting up to %.0fs for running jobs", self.settings.timeout)
        self.quiet()
        self.manager.stop(deadline)
        self._return_strays()
        self.config.fire("shutdown")
        self.heartbeat.stop()
        logger.info("bye")

    def _return_strays(self) -> None:
        """Push back anything still in our in-progress list once the pipeline has stopped.

        Normally nothing is: the manager acked or pushed back every job it knew. What remains was
        moved by a fetch whose reply never arrived (Redis restarted between running the command and
        answering), or finished while its ack could not be stored. Left there, it would wait for
        this process's record to expire; pushed back now, it runs again soon (at least once).
        """
        try:
            strays = self.store.in_progress(self.identity)
            if strays:
                self.store.requeue(self.identity, strays)
                logger.warning("pushed back %d job(s) left in this process's in-progress list", len(strays))
        except StoreError as exc:
            logger.error("could not check the in-progress list at shutdown: %s", exc)


def dump_threads() -> None:
    """Log every thread's stack (TTIN), to see what a stuck worker is doing."""
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)\n"
        logger.warning("thread %s:\n%s", thread.name, stack.rstrip())
