"""Unique jobs: while one job is pending, scheduled or running, an identical enqueue is dropped.

Opt in once per process, before jobs are defined (like Sidekiq Enterprise's ``unique!``)::

    from sidequest.middleware import unique
    unique.install()

    @job(unique_for=600)                      # seconds the lock may live at most
    def sync_account(account_id: int) -> None: ...

    sync_account.perform_async(7)   # a jid
    sync_account.perform_async(7)   # None: dropped, the first is still pending

The lock is a store key owned by the first job's jid, taken atomically (set-if-absent with a TTL)
by the client middleware, and released by the server middleware according to ``unique_until``:

- ``"success"`` (default): when the job succeeds. A failed job keeps the lock while it waits for
  its retries; the lock goes when the job dies (retries exhausted, or ``retry=False``).
- ``"finish"``: when the job finishes running, whatever the outcome; its retries run unlocked.
- ``"start"``: as the job starts (Sidekiq Enterprise's ``:start``): a duplicate may be enqueued
  while it runs.

The TTL (``unique_for``, counted from the job's run time for perform_in/perform_at) bounds every
case: a lock is never held longer, so a lost job cannot block its duplicates forever. The key is
SHA-256 of the class, the queue and the arguments (what Enterprise documents), or of the class, the
queue and what ``unique_key(*args)`` returns. The payload keeps Enterprise's ``unique_for`` and
``unique_until`` fields, plus ``unique_digest`` so any worker can release the lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sidequest._time import now
from sidequest.client import get_delivery_override
from sidequest.config import Config, get_config
from sidequest.errors import ConfigError
from sidequest.stores.base import Store

logger = logging.getLogger("sidequest")

OPTIONS = frozenset({"unique_for", "unique_until", "unique_key"})
UNTIL = ("success", "finish", "start")

#: Called with the payload of every dropped duplicate (sidequest.testing.periodic listens here).
drop_listeners: list[Callable[[dict[str, Any]], None]] = []

_test_locks: Store | None = None


def lock_store(config: Config, queue: str) -> Store:
    """Where queue's locks live: with its jobs, in the store of the queue (settings.queue_urls), or in
    an in-process store while a testing mode keeps jobs in memory (so fake and inline tests need no
    store). Beside the jobs, the worker that runs one releases its lock in the store it fetched from."""
    global _test_locks
    if get_delivery_override() is None:
        return config.store_for(queue)
    if _test_locks is None:
        from sidequest.stores.memory import MemoryStore

        _test_locks = MemoryStore()
    return _test_locks


def reset_test_locks() -> None:
    """Forget the locks taken in testing modes (between tests)."""
    global _test_locks
    _test_locks = None


def digest(
    job_class: str, queue: str, args: Sequence[Any], unique_key: Callable[..., Any] | None = None
) -> str:
    """The lock's key: SHA-256 hex of [class, queue, args] (or of unique_key(*args) instead of args)."""
    material = unique_key(*args) if unique_key is not None else list(args)
    try:
        text = json.dumps(
            [job_class, queue, material], separators=(",", ":"), sort_keys=True, ensure_ascii=False
        )
    except (TypeError, ValueError):
        raise ConfigError(
            f"unique_key of {job_class} returned {material!r}; return a JSON-native value (str, int, list, ...)"
        ) from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check(job_class: str, payload: dict[str, Any]) -> tuple[float, str]:
    unique_for = payload.get("unique_for")
    if isinstance(unique_for, bool) or not isinstance(unique_for, int | float) or unique_for <= 0:
        raise ConfigError(f"unique_for of {job_class} is {unique_for!r}; use a positive number of seconds")
    until = payload.get("unique_until", "success")
    if until not in UNTIL:
        raise ConfigError(f"unique_until of {job_class} is {until!r}; use 'success', 'finish' or 'start'")
    return float(unique_for), str(until)


class UniqueJobs:
    """Client middleware: take the lock, or drop the push (perform_async then returns None)."""

    options = OPTIONS
    only_for = frozenset({"unique_for", "unique_key"})

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or get_config()

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        unique_key = payload.pop("unique_key", None)
        if payload.get("unique_for") is None:
            return call_next()
        unique_for, _ = _check(job_class, payload)
        key = digest(job_class, queue, payload.get("args", []), unique_key if callable(unique_key) else None)
        payload["unique_digest"] = key
        stamp = now()
        at = payload.get("at")
        # a scheduled job is locked from now until unique_for after its run time, as in Enterprise
        ttl = unique_for + (max(0.0, float(at) - stamp) if isinstance(at, int | float) else 0.0)
        store = lock_store(self.config, queue)
        if store.unique_lock(key, str(payload["jid"]), ttl, stamp):
            return call_next()
        holder = store.unique_owner(key, stamp)
        logger.info(
            "unique: dropped a duplicate of %s %s (lock held by jid %s)",
            job_class,
            payload.get("args"),
            holder,
        )
        for listener in list(drop_listeners):
            listener(payload)
        return None


class UniqueJobsServer:
    """Server middleware: release the lock when unique_until says so."""

    options = OPTIONS
    only_for = frozenset({"unique_for"})

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or get_config()

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        if payload.get("unique_for") is None:
            return call_next()
        until = payload.get("unique_until", "success")
        if until == "start":
            release(payload, self.config)
            return call_next()
        try:
            result = call_next()
        except BaseException:
            if until == "finish":
                release(payload, self.config)
            raise
        release(payload, self.config)
        return result


def release(payload: dict[str, Any], config: Config | None = None) -> bool:
    """Release the lock payload's job holds (no-op if another job holds it, or it expired)."""
    key = payload.get("unique_digest")
    if not isinstance(key, str):
        key = digest(str(payload.get("class")), str(payload.get("queue")), payload.get("args") or [])
    return lock_store(config or get_config(), str(payload.get("queue"))).unique_unlock(
        key, str(payload.get("jid"))
    )


def _release_on_death(payload: dict[str, Any], exc: BaseException) -> None:
    if payload.get("unique_for") is not None:
        release(payload)


def install(config: Config | None = None) -> None:
    """Turn unique jobs on for this process: both middleware and the death handler (idempotent)."""
    config = config or get_config()
    if UniqueJobs not in config.client_middleware:
        config.client_middleware.add(UniqueJobs, config)
    if UniqueJobsServer not in config.server_middleware:
        config.server_middleware.add(UniqueJobsServer, config)
    if _release_on_death not in config.death_handlers:
        config.death_handlers.append(_release_on_death)
