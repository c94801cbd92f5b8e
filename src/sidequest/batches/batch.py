"""Batches in Sidekiq Pro's shape: a group of jobs with callbacks that fire once when they are done.

    batch = Batch(description="import 42")
    batch.on("success", FinishImport, {"import_id": 42})
    with batch.jobs():
        for row in rows:
            import_row.perform_async(row)

Every job pushed inside ``jobs()`` (bulk pushes too) joins the batch: the client middleware writes
its jid into the batch before the push and ``"bid"`` into its payload. While a ``jobs()`` block is
open the batch holds one extra pending unit, so the first jobs finishing cannot fire callbacks before
the last ones are pushed; jobs of the batch add more the same way (``with self.batch.jobs():``).
A batch created inside another's ``jobs()`` block is its child: one pending unit of the parent until
it succeeds. Callbacks are ordinary jobs, called with ``(bid, options)``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sidequest import payload as wire
from sidequest import registry
from sidequest._time import now
from sidequest.batches import _store
from sidequest.errors import ConfigError, SidequestError
from sidequest.job import Enqueuer, Job
from sidequest.stores.base import Store

#: Seconds a batch's data is kept while it has not succeeded (Sidekiq Pro keeps 30 days).
DEFAULT_TTL = 30 * 86400
#: Seconds a batch's data is kept after its success callbacks fired.
DEFAULT_SUCCESS_TTL = 86400
EVENTS = ("complete", "success", "death")
#: The job that tells a parent batch that one of its children completed, succeeded or died.
CHILD_JOB = "sidequest.BatchChild"

#: Jids a jobs() block pushed and has not added to its batch yet; they are added in chunks of this many.
ADD_CHUNK = 1000


class Block:
    """An open ``jobs()`` block: its batch, and the jids pushed in it not yet added to the batch.

    Jids are added after their pushes, in chunks (one store call per ADD_CHUNK jobs instead of one
    per job). The block holds the batch open until every jid is added, and a job that reports
    before its jid is added keeps its outcome for then (stores/batches.py), so nothing is lost.
    """

    def __init__(self, batch: Batch, store: Store) -> None:
        self.batch = batch
        self.store = store
        self.jids: list[str] = []
        self.lock = threading.Lock()

    def joined(self, jid: str) -> None:
        with self.lock:
            self.jids.append(jid)
            full = len(self.jids) >= ADD_CHUNK
        if full:
            self.add_pushed()

    def add_pushed(self) -> None:
        with self.lock:
            jids, self.jids = self.jids, []
        if jids and self.store.batch_add(self.batch.bid, jids) is None:
            raise BatchError(
                f"batch {self.batch.bid} no longer exists; {len(jids)} job(s) pushed in it ran alone"
            )


#: The jobs() block open here: pushes join its batch.
_current: contextvars.ContextVar[Block | None] = contextvars.ContextVar("sidequest_batch", default=None)
#: The batch of the job running here (set by the server middleware): Batch.current() reports it, but
#: pushes do not join it unless the job opens ``jobs()`` on it.
_running: contextvars.ContextVar[str | None] = contextvars.ContextVar("sidequest_running_batch", default=None)


class BatchError(SidequestError):
    """A batch was used in a way that cannot work (unknown event, callbacks after jobs, expired batch)."""


@dataclass(frozen=True)
class BatchStatus:
    """What Batch.status() reports. pending counts units not yet succeeded (jobs, child batches, and
    an open ``jobs()`` block); failed maps jids to their last error; times are epoch seconds."""

    bid: str
    description: str
    total: int
    pending: int
    failures: int
    dead: int
    failed: dict[str, str]
    created_at: float
    complete_at: float | None
    success_at: float | None
    death_at: float | None
    parent: str | None
    callbacks: dict[str, list[str]]
    expires_at: float
    pending_jids: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every job succeeded (the success callbacks fired)."""
        return self.success_at is not None

    @property
    def complete(self) -> bool:
        return self.complete_at is not None


class Batch:
    """A group of jobs and the callbacks to fire when they complete, succeed, or one of them dies."""

    def __init__(
        self,
        description: str = "",
        *,
        bid: str | None = None,
        ttl: float = DEFAULT_TTL,
        success_ttl: float = DEFAULT_SUCCESS_TTL,
        callback_queue: str = "default",
    ) -> None:
        """bid: open an existing batch (as ``self.batch`` does in a job) instead of a new one."""
        self.bid = bid or wire.new_jid()
        self.description = description
        self.ttl = ttl
        self.success_ttl = success_ttl
        self.callback_queue = callback_queue
        self._callbacks: list[tuple[str, str, str]] = []  # (event, class name, payload)
        self._created = bid is not None

    def __repr__(self) -> str:
        return f"<Batch {self.bid} {self.description!r}>"

    def on(self, event: str, job: Any, options: Mapping[str, Any] | None = None) -> Batch:
        """Run job with ``(bid, options)`` once, when event happens: "complete", "success" or "death"."""
        if event not in EVENTS:
            raise BatchError(f"unknown batch event {event!r} for {job!r}; use one of {', '.join(EVENTS)}")
        if self._created:
            raise BatchError(
                f"batch {self.bid}: callbacks must be added with on() before its first jobs() block, so "
                "they are stored with the batch"
            )
        name, job_options = _job_of(job)
        args = [self.bid, dict(options or {})]
        wire.check_args(args, f"{name} (callback of batch {self.bid})")
        built = wire.build(name, args, {"retry": True, "queue": "default", **job_options}, now())
        self._callbacks.append((event, name, wire.dumps(built)))
        return self

    @contextmanager
    def jobs(self) -> Iterator[Batch]:
        """Every job pushed inside joins this batch. An exception in the block leaves the batch open:
        its callbacks never fire and its data expires after ttl."""
        from sidequest.batches.middleware import install

        install()
        store = _store.store()
        open_block = _current.get()
        parent = open_block.batch if open_block is not None else None
        if not self._created:
            self._create(store, parent)
        hold = f"hold:{wire.new_jid()}"
        if store.batch_add(self.bid, [hold], counted=False) is None:
            raise BatchError(
                f"batch {self.bid} does not exist: it expired or was never created here. Start a new Batch"
            )
        block = Block(self, store)
        token = _current.set(block)
        try:
            yield self
        finally:
            _current.reset(token)
            block.add_pushed()
        fired = store.batch_done(self.bid, hold, "success", "", now())
        _store.deliver_fired(store, fired)

    def _create(self, store: Any, parent: Batch | None) -> None:
        callbacks = [(event, payload) for event, _, payload in self._callbacks]
        names: dict[str, list[str]] = {}
        for event, name, _ in self._callbacks:
            names.setdefault(event, []).append(name)
        if parent is not None:
            for event in EVENTS:
                internal = wire.build(
                    CHILD_JOB,
                    [parent.bid, self.bid, event],
                    {"retry": True, "queue": self.callback_queue},
                    now(),
                )
                callbacks.append((event, wire.dumps(internal)))
        meta = json.dumps(
            {"description": self.description, "parent": parent.bid if parent else None, "callbacks": names},
            ensure_ascii=False,
        )
        store.batch_create(self.bid, meta, callbacks, now(), self.ttl, self.success_ttl)
        if parent is not None and store.batch_add(parent.bid, [self.bid], counted=False) is None:
            raise BatchError(f"parent batch {parent.bid} of {self.bid} no longer exists")
        self._created = True

    @staticmethod
    def current() -> Batch | None:
        """The batch whose jobs() block is open here, or else the batch of the job running here."""
        block = _current.get()
        if block is not None:
            return block.batch
        running = _running.get()
        return Batch(bid=running) if running else None

    @staticmethod
    def status(bid: str, *, jids: int = 100, store: Store | None = None) -> BatchStatus | None:
        """The batch's progress, or None when it is unknown or expired; jids: pending jids listed."""
        return read_status(store or _store.store(), bid, jids)

    @staticmethod
    async def astatus(bid: str, *, jids: int = 100) -> BatchStatus | None:
        """status() without blocking the event loop."""
        return await asyncio.to_thread(Batch.status, bid, jids=jids)


def read_status(store: Store, bid: str, jids: int = 100) -> BatchStatus | None:
    """A batch's BatchStatus as store keeps it (also what sidequest.api.BatchSet shows)."""
    state = store.batch_state(bid)
    if state is None:
        return None
    meta = json.loads(state.meta or "{}")
    members = store.batch_members(bid, jids + 50) if jids else []
    return BatchStatus(
        bid=bid,
        description=str(meta.get("description") or ""),
        total=state.total,
        pending=state.pending,
        failures=state.failures,
        dead=state.dead,
        failed=state.failed,
        created_at=state.created_at,
        complete_at=state.fired.get("complete"),
        success_at=state.fired.get("success"),
        death_at=state.fired.get("death"),
        parent=meta.get("parent"),
        callbacks={k: list(v) for k, v in (meta.get("callbacks") or {}).items()},
        expires_at=state.expires_at,
        pending_jids=[m for m in members if not m.startswith("hold:")][:jids],
    )


def _job_of(job: Any) -> tuple[str, dict[str, Any]]:
    """(registered name, definition options) of a job given as @job function, Job class or name."""
    if isinstance(job, Enqueuer):
        return job.name, {**job.definition.options, **job.overrides}
    if isinstance(job, type) and issubclass(job, Job):
        return job.definition.name, dict(job.definition.options)
    if isinstance(job, str) and job:
        found = registry.find(job)
        return job, dict(found.options) if found is not None else {}
    raise ConfigError(
        f"a batch callback must be an @job function, a Job class or a job name, got {type(job).__name__} {job!r}"
    )


def _child_done(parent: str, child: str, event: str) -> None:
    """The parent learns its child's outcome: ran (complete), succeeded, or has a dead job."""
    outcome = {"complete": "ran", "success": "success", "death": "death"}[event]
    store = _store.store()
    fired = store.batch_done(parent, child, outcome, f"child batch {child} has a dead job", now())  # type: ignore[arg-type]
    _store.deliver_fired(store, fired)


def _register_child_job() -> None:
    from sidequest.job import JobDefinition

    if registry.find(CHILD_JOB) is None:
        registry.register(JobDefinition(CHILD_JOB, _child_done, {"retry": True, "queue": "default"}))


_register_child_job()
