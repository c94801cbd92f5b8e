"""Enqueuing one job with fixed options: perform_async and friends, typed by the job's signature.

An Enqueuer is what ``@job`` returns (as a JobFunction), what ``.set()`` returns, and what a Job
class's enqueue methods use. Each method checks the arguments against the definition, then hands them
to the client; nothing here talks to a store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol

from sidequest import client
from sidequest import options as _options
from sidequest._bulk import AsyncBulkEnqueue, BulkEnqueue
from sidequest._time import run_at
from sidequest.errors import SidequestError

if TYPE_CHECKING:
    from sidequest.job import JobDefinition

P = ParamSpec("P")

#: perform_in's delay: seconds or a timedelta. perform_at's moment: an aware datetime or epoch seconds.
Delay = float | int | timedelta
Moment = float | int | datetime


def _owned_options() -> frozenset[str]:
    from sidequest.config import get_config

    config = get_config()
    return config.client_middleware.owned_options() | config.server_middleware.owned_options()


class FakeModeHooks(Protocol):
    """What sidequest.testing attaches so ``send_email.jobs``, ``.drain()`` ... reach fake mode."""

    def jobs_for(self, job: str) -> list[dict[str, Any]]: ...
    def drain(self, job: str | None) -> int: ...
    def perform_one(self, job: str) -> Any: ...
    def clear(self, job: str) -> None: ...


_fake_mode: FakeModeHooks | None = None


def attach_fake_mode(hooks: FakeModeHooks) -> None:
    """Called by sidequest.testing when it is imported; the core never imports its test helpers."""
    global _fake_mode
    _fake_mode = hooks


def _fake(name: str, helper: str) -> FakeModeHooks:
    if _fake_mode is None:
        raise SidequestError(
            f"{name}.{helper} is a fake-mode testing helper: import sidequest.testing and switch to fake "
            "mode (sidequest.testing.fake(), or the pytest plugin's sidequest_fake fixture) first"
        )
    return _fake_mode


class Enqueuer(Generic[P]):
    """Enqueue one job with fixed options; ``set()`` returns a new Enqueuer with options overridden."""

    def __init__(self, definition: JobDefinition, overrides: Mapping[str, Any] | None = None) -> None:
        self.definition = definition
        self.overrides = dict(overrides or {})
        self.options: dict[str, Any] = {**definition.options, **self.overrides}

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def queue(self) -> str:
        return str(self.options.get("queue", "default"))

    def set(self, **overrides: Any) -> Enqueuer[P]:
        """Override options for one enqueue, e.g. ``send_email.set(queue="critical").perform_async(...)``.

        Options: see help(sidequest.job); ``jid`` fixes the job id of this one push.
        """
        checked = _options.check_override(overrides, self.name, _owned_options())
        return Enqueuer(self.definition, {**self.overrides, **checked})

    def perform_async(self, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """Enqueue now; returns the jid (None if a client middleware stopped the push)."""
        self.definition.check_args(args, kwargs)
        return client.get_client().push_job(self.definition.name, args, self.options, at=None)

    def perform_in(self, delay: Delay, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """Enqueue to run after delay (seconds or timedelta); a delay <= 0 enqueues now."""
        self.definition.check_args(args, kwargs)
        when = run_at(delay, relative=True, job=self.name)
        return client.get_client().push_job(self.name, args, self.options, at=when)

    def perform_at(self, when: Moment, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """Enqueue to run at when (aware datetime or epoch seconds); a past time enqueues now."""
        self.definition.check_args(args, kwargs)
        at = run_at(when, relative=False, job=self.name)
        return client.get_client().push_job(self.name, args, self.options, at=at)

    def push_bulk(
        self, args_list: Iterable[Sequence[Any]], *, batch_size: int = 1000, at: Moment | None = None
    ) -> list[str | None]:
        """perform_bulk's work: check every entry's argument count, then push them in batches."""
        entries = list(args_list)
        for index, entry in enumerate(entries):
            if isinstance(entry, list | tuple):
                self.definition.check_args(entry, {}, f"perform_bulk entry {index + 1}: ")
        when = None if at is None else run_at(at, relative=False, job=self.name)
        return client.get_client().push_bulk_jobs(
            self.name, entries, self.options, at=when, batch_size=batch_size
        )

    @property
    def perform_bulk(self) -> BulkEnqueue[P]:
        """``perform_bulk(args_list, batch_size=1000, at=None)``: one job per argument tuple, one store
        round trip per batch; returns the jids in order. A type checker checks each tuple."""
        return BulkEnqueue(self)

    # Awaitable forms for asyncio code (FastAPI, Starlette, Django's aenqueue): each runs its sync form
    # in a worker thread (asyncio.to_thread), so a store round trip never blocks the event loop. A
    # thread hand-off rather than an async store client: one code path writes every payload.
    async def aperform_async(self, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """Awaitable perform_async: enqueue now without blocking the event loop; returns the jid."""
        return await asyncio.to_thread(self.perform_async, *args, **kwargs)

    async def aperform_in(self, delay: Delay, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """Awaitable perform_in: enqueue to run after delay, without blocking the event loop."""
        return await asyncio.to_thread(self.perform_in, delay, *args, **kwargs)

    async def aperform_at(self, when: Moment, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """Awaitable perform_at: enqueue to run at when, without blocking the event loop."""
        return await asyncio.to_thread(self.perform_at, when, *args, **kwargs)

    @property
    def aperform_bulk(self) -> AsyncBulkEnqueue[P]:
        """Awaitable perform_bulk: enqueue many jobs without blocking the event loop."""
        return AsyncBulkEnqueue(self)

    # Fake-mode helpers: they work once sidequest.testing is imported (see attach_fake_mode).
    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Payloads enqueued for this job in fake mode."""
        return _fake(self.name, "jobs").jobs_for(self.name)

    def drain(self) -> int:
        """Run this job's fake-mode jobs (and ones they enqueue) until none is left; returns how many ran."""
        return _fake(self.name, "drain()").drain(self.name)

    def perform_one(self) -> Any:
        """Run the oldest fake-mode job of this job; EmptyQueueError when there is none."""
        return _fake(self.name, "perform_one()").perform_one(self.name)

    def clear(self) -> None:
        """Forget this job's fake-mode jobs."""
        _fake(self.name, "clear()").clear(self.name)
