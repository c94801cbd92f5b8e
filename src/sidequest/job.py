"""Defining jobs (@job, Job) and enqueuing them (perform_async, perform_in, perform_at, set, perform_bulk).

A job definition pairs a registered name (the payload's "class") with the code that runs it and its
default options. Enqueuing builds a payload and hands it to the client; nothing here talks to a store.

The enqueue methods carry the job's signature (a ParamSpec taken from the function, or from a Job
class's ``perform``), so a type checker flags ``send_email.perform_async(1)`` on a ``str`` parameter.
At run time the argument count is checked at enqueue, and keyword arguments are refused: a Sidekiq
payload carries positional JSON arguments only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from sidequest import options as _options
from sidequest import registry
from sidequest._bulk import AsyncBulkEnqueue, BulkEnqueue
from sidequest._enqueuer import Delay, Enqueuer, Moment, _fake, _owned_options, attach_fake_mode
from sidequest.errors import ConfigError, JobArgumentError

if TYPE_CHECKING:
    from sidequest.batches import Batch

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["Enqueuer", "Job", "JobDefinition", "JobFunction", "attach_fake_mode", "job"]

RetryIn = Callable[[int, BaseException], "float | int | str | None"]
Exhausted = Callable[[dict[str, Any], BaseException], Any]


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
        func = getattr(target, "perform", None) if isinstance(target, type) else target
        self.is_async = inspect.iscoroutinefunction(func)
        self.min_args, self.max_args, self._params = _arity(name, func, isinstance(target, type))

    def describe(self) -> str:
        module = getattr(self.target, "__module__", "?")
        return f"{module}.{getattr(self.target, '__qualname__', self.name)}"

    def check_args(self, args: Sequence[Any], kwargs: Mapping[str, Any], entry: str = "") -> None:
        """Refuse keyword arguments and a wrong argument count before anything is written."""
        if kwargs:
            raise JobArgumentError(
                f"{entry}{self.name} was given keyword argument(s) {', '.join(kwargs)}; jobs take positional "
                f"JSON arguments only (Sidekiq's rule): pass them in order, as ({self._params})"
            )
        count = len(args)
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            wanted = (
                f"{self.min_args}"
                if self.min_args == self.max_args
                else f"at least {self.min_args}"
                if self.max_args is None
                else f"{self.min_args} to {self.max_args}"
            )
            raise JobArgumentError(
                f"{entry}{self.name} takes {wanted} argument(s) ({self._params}), got {count}: {list(args)!r}"
            )

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


def _arity(name: str, func: Any, is_method: bool) -> tuple[int, int | None, str]:
    """(fewest, most or None, parameter names) of positional arguments func accepts."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): check nothing
        return 0, None, "..."
    if is_method:
        parameters = parameters[1:]
    fewest, most, names = 0, 0, []
    variadic = False
    for parameter in parameters:
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            most += 1
            names.append(parameter.name)
            if parameter.default is parameter.empty:
                fewest += 1
        elif parameter.kind is parameter.VAR_POSITIONAL:
            variadic = True
            names.append(f"*{parameter.name}")
        elif parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            raise ConfigError(
                f"job {name} has a keyword-only parameter {parameter.name!r} without a default; a job is "
                "called with positional JSON arguments only (Sidekiq's rule): make it a positional parameter"
            )
    return fewest, None if variadic else most, ", ".join(names)


class JobFunction(Enqueuer[P], Generic[P, R]):
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
    """Turn a module-level function (sync or ``async def``) into a job: ``@job`` or ``@job(queue="mailers")``.

    name: the payload's "class", default ``module.qualname``; set it (e.g. name="HardJob") to serve a
    Ruby class name. retry_in(count, exc): seconds until the next retry, "kill", "discard" or None for
    Sidekiq's backoff. retries_exhausted(payload, exc): called once before the job goes to the dead set.

    Options (defaults in brackets; docs/configuration.md has them all):
      queue ["default"]      the queue it is pushed to: letters, digits and _ : . -
      retry [True]           True: up to max_retries (25) retries; N: N retries; False: no retry, no dead set
      dead [True]            False: drop a job out of retries instead of keeping it in the dead set
      backtrace [False]      keep the failure's backtrace: True, or a number of lines
      retry_queue [queue]    the queue retries go to
      retry_for [no limit]   seconds after the first failure during which retries are allowed
      tags [none]            list of strings shown with the job
    A middleware may own more options (its ``options`` attribute). Arguments are positional and
    JSON-native (str, int, float, bool, None, list, dict with str keys).
    """

    def wrap(fn: Callable[P, R]) -> JobFunction[P, R]:
        _check_target(fn, name)
        job_name = name or f"{fn.__module__}.{fn.__qualname__}"
        checked = _options.check_definition(options, job_name, _owned_options())
        definition = JobDefinition(
            job_name, fn, checked, retry_in=retry_in, retries_exhausted=retries_exhausted
        )
        registry.register(definition)
        return JobFunction(definition, fn)

    return wrap(func) if func is not None else wrap


def _check_target(fn: Callable[..., Any], name: str | None) -> None:
    """Refuse what no worker could call: a lambda, a method, or (without name=) a nested function."""
    qualname = getattr(fn, "__qualname__", "")
    where = f"{getattr(fn, '__module__', '?')}.{qualname}"
    if not inspect.isfunction(fn) and not inspect.iscoroutinefunction(fn):
        raise ConfigError(f"@job needs a function, got {type(fn).__name__} {fn!r}; subclass Job for a class")
    if fn.__name__ == "<lambda>":
        raise ConfigError(f"@job cannot make a job of a lambda ({where}): define it with def at module level")
    parts = qualname.split(".")
    if len(parts) > 1 and parts[-2] != "<locals>":
        raise ConfigError(
            f"@job cannot make a job of the method {where}: a worker would call it without self. Define "
            "the job as a module-level function, or write the class as a Job subclass with perform()"
        )
    if "<locals>" in parts and name is None:
        raise ConfigError(
            f"@job on the nested function {where}: a worker imports modules, and cannot reach a function "
            "defined inside another one. Define it at module level, or give it name=... and make sure the "
            "code defining it has run in every process that runs it (tests do this)"
        )


class _Performs(Protocol[P]):
    def perform(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...


class _ClassEnqueue:
    """One enqueue method on a Job class (``ProvisionDns.perform_async``), typed by its perform()."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._method = name

    def _bound(self, owner: type) -> Any:
        return getattr(Enqueuer(owner.definition), self._method)  # type: ignore[attr-defined]


class _Now(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[P, str | None]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _In(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[Concatenate[Delay, P], str | None]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _At(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[Concatenate[Moment, P], str | None]:
        return self._bound(owner)  # type: ignore[no-any-return]


_Awaitable = Coroutine[Any, Any, "str | None"]


class _AwaitNow(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[P, _Awaitable]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _AwaitIn(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[Concatenate[Delay, P], _Awaitable]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _AwaitAt(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[Concatenate[Moment, P], _Awaitable]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _Bulk(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> BulkEnqueue[P]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _AwaitBulk(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> AsyncBulkEnqueue[P]:
        return self._bound(owner)  # type: ignore[no-any-return]


class _Set(_ClassEnqueue):
    def __get__(self, obj: object, owner: type[_Performs[P]]) -> Callable[..., Enqueuer[P]]:
        return self._bound(owner)  # type: ignore[no-any-return]


class JobMeta(type):
    """Gives job classes the fake-mode list as a class attribute (``MyJob.jobs``)."""

    definition: JobDefinition

    @property
    def jobs(cls) -> list[dict[str, Any]]:
        return _fake(cls.definition.name, "jobs").jobs_for(cls.definition.name)


class Job(metaclass=JobMeta):
    """Base class for jobs written as classes, like Sidekiq::Job.

    Options are class attributes (``queue = "infra"``, ``retry = 5``), class keywords
    (``class HardJob(Job, name="HardJob", queue="critical")``) or a ``sidequest_options`` dict (for
    options a middleware owns). A public class attribute whose name is close to an option's
    (``queu``) is refused, with "did you mean". A fresh instance runs each job, with ``jid`` and
    ``payload`` set before ``perform``; perform's signature types ``perform_async`` and friends.
    """

    definition: ClassVar[JobDefinition]
    #: Extra options, e.g. ones a middleware owns: ``sidequest_options = {"unique_for": 60}``.
    sidequest_options: ClassVar[Mapping[str, Any]] = {}
    jid: str = ""
    payload: dict[str, Any]

    def __init_subclass__(cls, *, name: str | None = None, register: bool = True, **opts: Any) -> None:
        super().__init_subclass__()
        collected: dict[str, Any] = {}
        for attr in sorted(_options.CORE_OPTIONS):
            for klass in reversed(cls.__mro__):
                if attr in vars(klass) and klass is not Job:
                    collected[attr] = vars(klass)[attr]
        for attr, value in vars(cls).items():
            meant = _options.close_attribute(attr) if not attr.startswith("_") else None
            if meant and not callable(value) and not isinstance(value, classmethod | staticmethod | property):
                raise ConfigError(
                    f"{cls.__module__}.{cls.__qualname__} has a class attribute {attr!r}; did you mean the "
                    f"option {meant!r}? (rename the attribute, or start it with _ if it is your own)"
                )
        collected.update(cls.sidequest_options or {})
        collected.update(opts)
        if name is None:
            inherited = getattr(cls, "definition", None)
            job_name = (
                f"{cls.__module__}.{cls.__qualname__}"
                if inherited is None or inherited.target is not cls
                else inherited.name
            )
        else:
            job_name = name
        checked = _options.check_definition(collected, job_name, _owned_options())
        cls.definition = JobDefinition(job_name, cls, checked)
        if register:
            registry.register(cls.definition)

    def perform(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define perform()")

    def progress(self, percent: float, message: str = "") -> None:
        """Record how far this job got, 0-100, when it was pushed with ``status`` (sidequest.status)."""
        from sidequest.batches.status import progress

        progress(percent, message, jid=self.jid)

    @property
    def batch(self) -> Batch | None:
        """The batch this job belongs to; ``with self.batch.jobs():`` adds more jobs to it."""
        bid = getattr(self, "payload", {}).get("bid")
        if not bid:
            return None
        from sidequest.batches import Batch

        return Batch(bid=bid)

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
    def enqueuer(cls) -> Enqueuer[Any]:
        return Enqueuer(cls.definition)

    set = _Set()
    perform_async = _Now()
    perform_in = _In()
    perform_at = _At()
    aperform_async = _AwaitNow()
    aperform_in = _AwaitIn()
    aperform_at = _AwaitAt()

    perform_bulk = _Bulk()
    aperform_bulk = _AwaitBulk()

    @classmethod
    def drain(cls) -> int:
        return cls.enqueuer().drain()

    @classmethod
    def perform_one(cls) -> Any:
        return cls.enqueuer().perform_one()

    @classmethod
    def clear(cls) -> None:
        cls.enqueuer().clear()
