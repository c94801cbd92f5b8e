"""Defining jobs (@job, Job) and enqueuing them (perform_async, perform_in, perform_at, set, perform_bulk).

A job definition pairs a registered name (the payload's "class") with the code that runs it and its
default options. Enqueuing builds a payload and hands it to the client; nothing here talks to a store.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar, overload

from sidequest import client, registry
from sidequest._time import run_at
from sidequest.errors import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

#: Options sidequest itself reads; middleware may declare more (Chain.owned_options).
CORE_OPTIONS = frozenset({"queue", "retry", "dead", "backtrace", "retry_queue", "retry_for", "tags", "jid"})

RetryIn = Callable[[int, BaseException], "float | int | str | None"]
Exhausted = Callable[[dict[str, Any], BaseException], Any]


def _check_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    from sidequest.config import get_config

    config = get_config()
    allowed = (
        CORE_OPTIONS | config.client_middleware.owned_options() | config.server_middleware.owned_options()
    )
    for key, value in options.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"unknown job option {key!r} on {where}; {hint}known options: {', '.join(sorted(allowed))} "
                "(a middleware can own more: declare them in its options attribute)"
            )
        _check_option_value(key, value, where)
    return dict(options)


def _check_option_value(key: str, value: Any, where: str) -> None:
    if key == "queue" and (
        not isinstance(value, str) or not value or not all(c.isalnum() or c in "_:.-" for c in value)
    ):
        raise ConfigError(
            f"queue option of {where} is {value!r}; use a non-empty name of letters, digits and _ : . -"
        )
    if key == "retry" and not (isinstance(value, bool) or (isinstance(value, int) and value >= 0)):
        raise ConfigError(
            f"retry option of {where} is {value!r}; use True, False or a number of retries (>= 0)"
        )
    if key in ("dead",) and not isinstance(value, bool):
        raise ConfigError(f"{key} option of {where} is {value!r}; use True or False")
    if key == "backtrace" and not (isinstance(value, bool) or (isinstance(value, int) and value >= 0)):
        raise ConfigError(f"backtrace option of {where} is {value!r}; use True, False or a number of lines")
    if key == "retry_for" and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
        raise ConfigError(f"retry_for option of {where} is {value!r}; use a number of seconds")
    if key == "tags" and (not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value)):
        raise ConfigError(f"tags option of {where} is {value!r}; use a list of strings")


class JobDefinition:
    """What the registry holds for one job name: how to build, run and retry it."""

    def __init__(
        self,
        name: str,
        target: Callable[..., Any] | type[Job],
        options: Mapping[str, Any],
        *,
        retry_in: RetryIn | None = None,
        retries_exhausted: Exhausted | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.options = dict(options)
        self._retry_in = retry_in
        self._exhausted = retries_exhausted
        self.is_class = isinstance(target, type)
        func = getattr(target, "perform", None) if isinstance(target, type) else target
        self.is_async = inspect.iscoroutinefunction(func)

    def describe(self) -> str:
        module = getattr(self.target, "__module__", "?")
        return f"{module}.{getattr(self.target, '__qualname__', self.name)}"

    def instantiate(self, payload: dict[str, Any]) -> Any:
        """The object server middleware sees: a fresh Job instance, or this definition for function jobs."""
        if isinstance(self.target, type):
            instance = self.target()
            instance.jid = payload.get("jid", "")
            instance.payload = payload
            return instance
        return self

    def call(self, instance: Any, args: Sequence[Any]) -> Any:
        """Run the job body: returns its result, or a coroutine for async jobs."""
        if isinstance(self.target, type):
            return instance.perform(*args)
        return self.target(*args)

    def retry_in(self, instance: Any, count: int, exc: BaseException) -> float | int | str | None:
        """The job's retry_in hook, on instance: the one that performed (from instantiate)."""
        if isinstance(self.target, type):
            return instance.retry_in(count, exc)  # type: ignore[no-any-return]
        return self._retry_in(count, exc) if self._retry_in else None

    def retries_exhausted(self, instance: Any, payload: dict[str, Any], exc: BaseException) -> Any:
        """The job's retries_exhausted hook, on instance: the one that performed (from instantiate)."""
        if isinstance(self.target, type):
            return instance.retries_exhausted(payload, exc)
        return self._exhausted(payload, exc) if self._exhausted else None


class Enqueuer:
    """Enqueue one job with fixed options; ``set()`` returns a new Enqueuer with options overridden."""

    def __init__(self, definition: JobDefinition, overrides: Mapping[str, Any] | None = None) -> None:
        self.definition = definition
        self.overrides = dict(overrides or {})

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def options(self) -> dict[str, Any]:
        return {**self.definition.options, **self.overrides}

    @property
    def queue(self) -> str:
        return str(self.options.get("queue", "default"))

    def set(self, **options: Any) -> Enqueuer:
        """Override options for one enqueue, e.g. ``send_email.set(queue="critical").perform_async(...)``."""
        return Enqueuer(self.definition, {**self.overrides, **_check_options(options, self.name)})

    def perform_async(self, *args: Any) -> str | None:
        """Enqueue now; returns the jid (None if a client middleware stopped the push)."""
        return client.get_client().push_job(self.definition.name, args, self.options, at=None)

    def perform_in(self, delay: float | int | timedelta, *args: Any) -> str | None:
        """Enqueue to run after delay (seconds or timedelta); a delay <= 0 enqueues now."""
        return client.get_client().push_job(self.name, args, self.options, at=run_at(delay, relative=True))

    def perform_at(self, when: float | int | datetime, *args: Any) -> str | None:
        """Enqueue to run at when (aware datetime or epoch seconds); a past time enqueues now."""
        return client.get_client().push_job(self.name, args, self.options, at=run_at(when, relative=False))

    def perform_bulk(
        self,
        args_list: Iterable[Sequence[Any]],
        *,
        batch_size: int = 1000,
        at: float | datetime | None = None,
    ) -> list[str | None]:
        """Enqueue many jobs, one store round trip per batch; returns jids aligned with args_list."""
        when = None if at is None else run_at(at, relative=False)
        return client.get_client().push_bulk_jobs(
            self.name, list(args_list), self.options, at=when, batch_size=batch_size
        )

    # Testing helpers (fake mode): see sidequest.testing.
    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Payloads enqueued for this job in fake mode."""
        from sidequest.testing import jobs_for

        return jobs_for(self.name)

    def drain(self) -> int:
        """Run this job's fake-mode jobs (and ones they enqueue) until none is left; returns how many ran."""
        from sidequest.testing import drain

        return drain(self.name)

    def perform_one(self) -> Any:
        """Run the oldest fake-mode job of this job; EmptyQueueError when there is none."""
        from sidequest.testing import perform_one

        return perform_one(self.name)

    def clear(self) -> None:
        """Forget this job's fake-mode jobs."""
        from sidequest.testing import clear

        clear(self.name)


class JobFunction(Enqueuer, Generic[P, R]):
    """What @job returns: call it to run now, in-process; use perform_* to enqueue."""

    def __init__(self, definition: JobDefinition, func: Callable[P, R]) -> None:
        super().__init__(definition)
        self.func = func
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<job {self.name}>"


@overload
def job(func: Callable[P, R], /) -> JobFunction[P, R]: ...
@overload
def job(
    *,
    name: str | None = None,
    retry_in: RetryIn | None = None,
    retries_exhausted: Exhausted | None = None,
    **options: Any,
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...


def job(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry_in: RetryIn | None = None,
    retries_exhausted: Exhausted | None = None,
    **options: Any,
) -> JobFunction[P, R] | Callable[[Callable[P, R]], JobFunction[P, R]]:
    """Turn a function (sync or ``async def``) into a job: ``@job`` or ``@job(queue="mailers", retry=5)``.

    name defaults to ``module.qualname``; set it (e.g. name="HardJob") to serve a Ruby class name.
    """

    def wrap(fn: Callable[P, R]) -> JobFunction[P, R]:
        job_name = name or f"{fn.__module__}.{fn.__qualname__}"
        checked = _check_options(options, job_name)
        definition = JobDefinition(
            job_name, fn, checked, retry_in=retry_in, retries_exhausted=retries_exhausted
        )
        registry.register(definition)
        return JobFunction(definition, fn)

    return wrap(func) if func is not None else wrap


class JobMeta(type):
    """Gives job classes the fake-mode helpers as class attributes (``MyJob.jobs``, ``MyJob.drain()``)."""

    definition: JobDefinition

    @property
    def jobs(cls) -> list[dict[str, Any]]:
        from sidequest.testing import jobs_for

        return jobs_for(cls.definition.name)


class Job(metaclass=JobMeta):
    """Base class for jobs written as classes, like Sidekiq::Job.

    Options are class attributes (``queue = "infra"``, ``retry = 5``) or class keywords
    (``class HardJob(Job, name="HardJob", queue="critical")``). A fresh instance runs each job, with
    ``jid`` and ``payload`` set before ``perform``.
    """

    definition: ClassVar[JobDefinition]
    _OPTION_ATTRS: ClassVar[tuple[str, ...]] = (
        "queue",
        "retry",
        "dead",
        "backtrace",
        "retry_queue",
        "retry_for",
        "tags",
    )
    jid: str = ""
    payload: dict[str, Any]

    def __init_subclass__(cls, *, name: str | None = None, register: bool = True, **options: Any) -> None:
        super().__init_subclass__()
        collected: dict[str, Any] = {}
        for attr in cls._OPTION_ATTRS:
            for klass in reversed(cls.__mro__):
                if attr in vars(klass) and klass is not Job:
                    collected[attr] = vars(klass)[attr]
        collected.update(getattr(cls, "sidequest_options", {}) or {})
        collected.update(options)
        if name is None:
            inherited = getattr(cls, "definition", None)
            job_name = (
                f"{cls.__module__}.{cls.__qualname__}"
                if inherited is None or inherited.target is not cls
                else inherited.name
            )
        else:
            job_name = name
        cls.definition = JobDefinition(job_name, cls, _check_options(collected, job_name))
        if register:
            registry.register(cls.definition)

    def perform(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define perform()")

    def retry_in(self, count: int, exc: BaseException) -> float | int | str | None:
        """Seconds until the next retry, "kill" (dead now), "discard" (drop), or None for the default backoff.

        As in Sidekiq, a positive number gets jitter added: rand(10) * (count + 1) seconds, so 10
        means 10 to 19 s on the first retry. 0 means now, with no jitter. Any other answer is
        reported to the error handlers and the default backoff is used.
        """
        return None

    def retries_exhausted(self, payload: dict[str, Any], exc: BaseException) -> Any:
        """Called once when a job has used all its retries, before it goes to the dead set."""
        return None

    @classmethod
    def enqueuer(cls) -> Enqueuer:
        return Enqueuer(cls.definition)

    @classmethod
    def set(cls, **options: Any) -> Enqueuer:
        return cls.enqueuer().set(**options)

    @classmethod
    def perform_async(cls, *args: Any) -> str | None:
        return cls.enqueuer().perform_async(*args)

    @classmethod
    def perform_in(cls, delay: float | int | timedelta, *args: Any) -> str | None:
        return cls.enqueuer().perform_in(delay, *args)

    @classmethod
    def perform_at(cls, when: float | int | datetime, *args: Any) -> str | None:
        return cls.enqueuer().perform_at(when, *args)

    @classmethod
    def perform_bulk(cls, args_list: Iterable[Sequence[Any]], *, batch_size: int = 1000) -> list[str | None]:
        return cls.enqueuer().perform_bulk(args_list, batch_size=batch_size)

    @classmethod
    def drain(cls) -> int:
        return cls.enqueuer().drain()

    @classmethod
    def perform_one(cls) -> Any:
        return cls.enqueuer().perform_one()

    @classmethod
    def clear(cls) -> None:
        cls.enqueuer().clear()
