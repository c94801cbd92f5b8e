"""One worker process from start to exit: heartbeat, poller and job pipeline, quiet and stop.

Start: wait for the store (one clear line, then retries; a permanent refusal such as bad credentials
ends the process, and a --burst worker gives up after ``burst_store_wait``), log what this worker
runs (jobs, queues, the store's absolute location), write the first heartbeat *before* the
first fetch (so no one mistakes us for dead and takes our jobs), recover jobs left by dead
processes, fire "startup", then run. Stop (TERM/INT, remote stop, or burst mode finding nothing left
to do): quiet -> wait up to the timeout for running jobs -> push back what is unfinished -> flush
counters and leave the registry -> fire "shutdown" -> exit 0.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback

from sidequest._time import backoff
from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.periodic.scheduler import Scheduler
from sidequest.runtime.heartbeat import Heartbeat, hostname, report_recovered
from sidequest.runtime.malloc import release_free_memory
from sidequest.runtime.manager import Manager
from sidequest.runtime.poller import Poller
from sidequest.runtime.report import leftovers, log_jobs, permanent_problem
from sidequest.stores import location

logger = logging.getLogger("sidequest")

#: Exit code of a worker whose store refused it for good or, with --burst, stayed unreachable for
#: burst_store_wait; a supervisor in burst mode does not restart a child that exits with it.
EXIT_STORE_UNUSABLE = 3


def new_identity() -> str:
    """hostname:pid:nonce, Sidekiq's process identity."""
    return f"{hostname()}:{os.getpid()}:{os.urandom(6).hex()}"


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
            return 1 if self._stop_requested.is_set() else EXIT_STORE_UNUSABLE
        self.start()
        drained = True
        try:
            if self.burst:
                drained = self._wait_until_drained()
            else:
                while not self._stop_requested.wait(0.5):
                    pass
        finally:
            self.stop()
        if self.burst and drained:
            try:
                logger.info("burst done: %s", leftovers(self.store, self.settings.queue_names))
            except StoreError as exc:
                logger.error("burst done; could not read what is left: %s", exc)
        logger.info("bye")
        return 0 if drained else EXIT_STORE_UNUSABLE

    def _connect(self) -> bool:
        """Wait for the store; False when it refuses us for good, or (--burst) stays unreachable too long."""
        url = location(self.store.url)
        announced = False
        give_up = time.monotonic() + self.settings.burst_store_wait if self.burst else None
        for delay in backoff(0.5, 5.0):
            if self._stop_requested.is_set():
                break
            try:
                self.store.ping()
                if self.heartbeat.beat_once():
                    if announced:
                        logger.warning("store %s is reachable; starting", url)
                    return True
            except StoreError as exc:
                problem = permanent_problem(self.store, exc)
                if problem:
                    logger.error("cannot start: %s", problem)
                    return False
            if give_up is not None and time.monotonic() >= give_up:
                logger.error(
                    "giving up: the store at %s stayed unreachable for %gs (--burst; burst_store_wait)",
                    url,
                    self.settings.burst_store_wait,
                )
                return False
            if not announced:
                logger.error(
                    "cannot reach the store at %s; retrying with backoff (%s)",
                    url,
                    f"giving up after {self.settings.burst_store_wait:g}s"
                    if give_up
                    else "Ctrl-C to give up",
                )
                announced = True
            self._stop_requested.wait(delay)
        return False

    def start(self) -> None:
        settings = self.settings
        logger.info(
            "sidequest worker %s starting: store=%s queues=%s%s concurrency=%d%s",
            self.identity,
            location(self.store.url),
            ", ".join(settings.queue_names)
            if settings.strict
            else ", ".join(f"{name} (weight {weight})" for name, weight in settings.queues),
            " in strict order" if settings.strict else "",
            settings.concurrency,
            " (burst)" if self.burst else "",
        )
        log_jobs(settings.queue_names)
        for queue in settings.queue_names:
            routed = settings.routed_url(queue)
            if routed is not None:
                shown = location(routed)
                logger.warning(
                    "queue %s: queue_urls sends its jobs to %s, not to this worker's store; "
                    "a worker for it runs with --url %s",
                    queue,
                    shown,
                    shown,
                )
        try:
            report_recovered(self.store.recover(settings.max_recoveries))
        except StoreError as exc:
            logger.error("could not check for jobs left by dead processes: %s", exc)
        self.config.fire("startup")
        self.manager.start()
        self.poller.start()
        self.periodic.start()
        self.heartbeat.start()
        release_free_memory()

    def _wait_until_drained(self) -> bool:
        """Burst mode: True once queues and due scheduled jobs stay empty for two checks in a row.

        False when the store stays unreachable for burst_store_wait: a burst run in cron or CI must end.
        """
        empty_checks = 0
        failing_since: float | None = None
        while not self._stop_requested.wait(0.05):
            try:
                self.poller.poll_once()
            except StoreError as exc:
                empty_checks = 0
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since >= self.settings.burst_store_wait:
                    logger.error(
                        "giving up: the store stayed unreachable for %gs (--burst; burst_store_wait): %s",
                        self.settings.burst_store_wait,
                        exc,
                    )
                    return False
                continue
            failing_since = None
            if self.manager.idle and self.poller.nothing_due:
                empty_checks += 1
                if empty_checks >= 2:
                    return True
            else:
                empty_checks = 0
        return True

    def stop(self) -> None:
        deadline = time.monotonic() + self.settings.timeout
        logger.info("shutting down: waiting up to %.0fs for running jobs", self.settings.timeout)
        self.quiet()
        self.manager.stop(deadline)
        self._return_strays()
        self.config.fire("shutdown")
        self.heartbeat.stop()

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
