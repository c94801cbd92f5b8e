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
import secrets
import socket
import sys
import threading
import time
import traceback
from urllib.parse import urlsplit

from sidequest import registry
from sidequest.config import Config
from sidequest.errors import StoreError, StoreUnavailable
from sidequest.runtime.heartbeat import Heartbeat, hostname
from sidequest.runtime.manager import Manager
from sidequest.runtime.poller import Poller
from sidequest.stores import Store, location, redact

logger = logging.getLogger("sidequest")

#: Exit code of a worker whose store refused it for good or, with --burst, stayed unreachable for
#: burst_store_wait; a supervisor in burst mode does not restart a child that exits with it.
EXIT_STORE_UNUSABLE = 3


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
        delay = 0.5
        announced = False
        give_up = time.monotonic() + self.settings.burst_store_wait if self.burst else None
        while not self._stop_requested.is_set():
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
            delay = min(delay * 2, 5.0)
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
        try:
            recovered = self.store.recover()
            if recovered:
                logger.warning("recovered %d job(s) left in progress by processes that died", recovered)
        except StoreError as exc:
            logger.error("could not check for jobs left by dead processes: %s", exc)
        self.config.fire("startup")
        self.manager.start()
        self.poller.start()
        self.heartbeat.start()

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


def permanent_problem(store: Store, exc: StoreError) -> str | None:
    """Why retrying cannot help, or None for an outage worth waiting out.

    Refused credentials and a bad database index come back as StoreError (not StoreUnavailable);
    a host name that does not resolve looks like an outage to the client, but at start it is a
    typo in the URL far more often than a DNS blip.
    """
    if not isinstance(exc, StoreUnavailable):
        return str(exc)
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror) and cause.errno in _UNRESOLVED:
            host = urlsplit(store.url).hostname or store.url
            return (
                f"the host name {host!r} of the store URL {redact(store.url)} does not resolve "
                f"({cause.strerror}); check the host in the URL"
            )
        cause = cause.__cause__ or cause.__context__
    return None


#: getaddrinfo's "no such name" answers (EAI_AGAIN, a temporary failure, is not one of them).
_UNRESOLVED = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def log_jobs(queues: list[str]) -> None:
    """Log the registered jobs with their queues, and warn about jobs whose queue this worker does not work."""
    jobs = []
    for name in registry.names():
        definition = registry.find(name)
        if definition is not None:
            jobs.append((name, str(definition.options.get("queue", "default"))))
    if not jobs:
        logger.warning("no jobs are registered: load the modules that define them with -r")
        return
    logger.info("%d job(s) registered: %s", len(jobs), ", ".join(f"{n} -> {q}" for n, q in jobs))
    unworked = [(n, q) for n, q in jobs if q not in queues]
    if unworked:
        missing = sorted({q for _, q in unworked})
        logger.warning(
            "registered jobs use queue(s) this worker does not work: %s (%s); add them with -q %s",
            ", ".join(missing),
            ", ".join(f"{n} -> {q}" for n, q in unworked),
            " -q ".join(missing),
        )


def leftovers(store: Store, queues: list[str]) -> str:
    """What a burst run leaves behind: retries and scheduled jobs with their next due time, other queues."""
    now = time.time()
    parts = []
    for name, one, many in (("retry", "retry", "retries"), ("schedule", "scheduled job", "scheduled jobs")):
        size = store.set_size(name)
        if size:
            due = store.next_due([name])
            when = f" (next in {_duration(due - now)})" if due is not None else ""
            parts.append(f"{size} {one if size == 1 else many}{when}")
    other = {name: store.queue_size(name) for name in store.queue_names() if name not in queues}
    other = {name: size for name, size in other.items() if size}
    if other:
        total = sum(other.values())
        detail = ", ".join(f"{name}: {size}" for name, size in sorted(other.items()))
        parts.append(f"{total} job{'' if total == 1 else 's'} in queues this worker does not work ({detail})")
    if not parts:
        return "nothing left"
    return "left " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def dump_threads() -> None:
    """Log every thread's stack (TTIN), to see what a stuck worker is doing."""
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)\n"
        logger.warning("thread %s:\n%s", thread.name, stack.rstrip())
