"""Expiring jobs: a job not started within ``expires_in`` seconds is skipped, counted and logged.

Opt in once per process (like the other job-feature middleware)::

    from sidequest.middleware import expiring
    expiring.install()

    @job(expires_in=300)
    def refresh_quote(symbol: str) -> None: ...

The client middleware writes ``expires_at`` (epoch seconds) into the payload: the run time plus
expires_in, so a perform_in/perform_at job counts from its due time, not from when it was enqueued.
The server middleware skips a job whose expires_at has passed when a worker is about to run it (a
payload from another client with only ``expires_in``, as Sidekiq Pro writes it, counts from
created_at). A skipped job is not an error: it is not retried and counts as processed, and the
``expired`` counter (per process at once, in the store at the next heartbeat) and a warning line
record it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sidequest._time import from_wire, now
from sidequest.config import Config, get_config
from sidequest.errors import ConfigError, StoreError

logger = logging.getLogger("sidequest")

OPTIONS = frozenset({"expires_in"})

#: Called with the payload of every job skipped as expired (sidequest.testing.periodic listens here).
expire_listeners: list[Callable[[dict[str, Any]], None]] = []

_count_lock = threading.Lock()
_expired = 0
_unflushed = 0


def expired_count() -> int:
    """How many jobs this process has skipped as expired since it started."""
    return _expired


def flush(config: Config | None = None) -> None:
    """Add this process's newly expired jobs to the store's "expired" counter (run on every heartbeat,
    so skipping a backlog of expired jobs costs no store write per job)."""
    global _unflushed
    with _count_lock:
        amount, _unflushed = _unflushed, 0
    if not amount:
        return
    try:
        (config or get_config()).store.add_stat("expired", amount, now())
    except StoreError:
        with _count_lock:
            _unflushed += amount  # counted at the next beat
        raise


def deadline(payload: dict[str, Any]) -> float | None:
    """When payload's job expires (epoch seconds), or None if it never does."""
    expires_at = payload.get("expires_at")
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        return float(expires_at)
    expires_in = payload.get("expires_in")
    created = from_wire(payload.get("created_at"))
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and created is not None:
        return created + float(expires_in)
    return None


class ExpiringJobs:
    """Client middleware: stamp expires_at = run time + expires_in."""

    options = OPTIONS
    only_for = frozenset({"expires_in"})

    def __init__(self, config: Config | None = None) -> None:
        self.config = config

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        expires_in = payload.get("expires_in")
        if expires_in is None:
            return call_next()
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise ConfigError(
                f"expires_in of {job_class} is {expires_in!r}; use a positive number of seconds"
            )
        at = payload.get("at")
        start = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else now()
        payload["expires_at"] = start + float(expires_in)
        return call_next()


class ExpiringJobsServer:
    """Server middleware: skip (do not run) a job whose deadline has passed."""

    options = OPTIONS
    only_for = frozenset({"expires_at", "expires_in"})

    def __init__(self, config: Config | None = None) -> None:
        self.config = config

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        expires = deadline(payload)
        if expires is None or now() <= expires:
            return call_next()
        global _expired, _unflushed
        with _count_lock:
            _expired += 1
            _unflushed += 1
        logger.warning(
            "expired: skipped %s (jid %s): not started by its deadline, %.1f s ago",
            payload.get("class"),
            payload.get("jid"),
            now() - expires,
        )
        for listener in list(expire_listeners):
            listener(payload)
        return None


def install(config: Config | None = None) -> None:
    """Turn expiring jobs on for this process: both middleware (idempotent)."""
    config = config or get_config()
    if ExpiringJobs not in config.client_middleware:
        config.client_middleware.add(ExpiringJobs, config)
    if ExpiringJobsServer not in config.server_middleware:
        config.server_middleware.add(ExpiringJobsServer, config)
        config.on("beat", lambda: flush(config))
        config.on("shutdown", lambda: flush(config))
