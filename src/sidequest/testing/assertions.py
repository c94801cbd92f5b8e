"""Assertions on what fake mode captured, on job options, and perform_job to run one job directly.

They cover what rspec-sidekiq's matchers cover, in plain functions that raise AssertionError (so
pytest shows the message as the failure): with arguments, on a queue, at a time or after a delay,
immediately, how many times, with any other payload field (retry, tags, ...); and for options: retryable,
processed in a queue, saving backtraces, any option by name. When an assertion fails, its message lists
what WAS enqueued and, for each job, which of the expectations it missed: the usual next question.

Arguments are compared after the same JSON normalisation production applies (a tuple is expected as a
list), with the expectation on the left, so ``unittest.mock.ANY`` works for any one argument.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sidequest import _time, registry
from sidequest import payload as wire
from sidequest.config import get_config
from sidequest.job import Enqueuer
from sidequest.testing._loop import run_coroutine
from sidequest.testing.clock import Moment, duration_seconds, epoch_seconds
from sidequest.testing.fake import JobRef, _format_time, job_name, queues

_MISSING: Any = object()
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxlist = 8
_repr.maxdict = 8
_repr.maxother = 60


class Count:
    """How many matching jobs an assertion expects: ``exactly(2)``, ``at_least(1)``, ``at_most(3)``."""

    def __init__(self, low: int, high: int | None) -> None:
        if low < 0 or (high is not None and high < low):
            raise ValueError(f"a job count needs 0 <= low <= high, got low={low} high={high}")
        self.low = low
        self.high = high

    def matches(self, found: int) -> bool:
        return found >= self.low and (self.high is None or found <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return "at least once" if self.low == 1 else f"at least {self.low} times"
        if self.low == 0 and self.high == 0:
            return "never"
        if self.low == self.high:
            return {1: "exactly once", 2: "exactly twice"}.get(self.low, f"exactly {self.low} times")
        if self.low == 0:
            return f"at most {_times(self.high)}"
        return f"between {self.low} and {self.high} times"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def exactly(n: int) -> Count:
    return Count(n, n)


def at_least(n: int) -> Count:
    return Count(n, None)


def at_most(n: int) -> Count:
    return Count(0, n)


def _as_count(count: int | Count | None) -> Count:
    if count is None:
        return at_least(1)
    if isinstance(count, Count):
        return count
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int or exactly()/at_least()/at_most(), got {count!r}")
    return exactly(count)


def _normalise(value: Any) -> Any:
    """Expected values as JSON would deliver them: tuples become lists; matchers such as ANY stay."""
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    return value


class _Expectation:
    """The criteria of one assertion, able to say which of them a payload misses."""

    def __init__(
        self,
        job: JobRef | None,
        args: Sequence[Any] | None,
        queue: str | None,
        at: Moment | None,
        in_: float | int | timedelta | None,
        immediately: bool,
        within: float,
        fields: Mapping[str, Any],
    ) -> None:
        if at is not None and in_ is not None:
            raise TypeError("give at= or in_=, not both")
        if immediately and (at is not None or in_ is not None):
            raise TypeError("immediately=True contradicts at= / in_=")
        if args is not None and (isinstance(args, str | bytes) or not isinstance(args, Sequence)):
            raise TypeError(
                f"args must be a list or tuple of the job's arguments, got {type(args).__name__} {args!r}"
            )
        self.name = None if job is None else job_name(job)
        self.args = None if args is None else _normalise(args)
        self.queue = queue
        self.at = None if at is None else epoch_seconds(at)
        self.in_ = None if in_ is None else duration_seconds(in_)
        self.immediately = immediately
        self.within = within
        self.fields = {key: _normalise(value) for key, value in fields.items()}

    def misses(self, payload: Mapping[str, Any]) -> list[str]:
        missed: list[str] = []
        if self.name is not None and payload.get("class") != self.name:
            missed.append("job")
        if self.args is not None and self.args != payload.get("args"):
            missed.append("args")
        if self.queue is not None and payload.get("queue") != self.queue:
            missed.append("queue")
        run_at = _time.from_wire(payload.get("at"))
        if self.immediately and run_at is not None:
            missed.append("immediately")
        if self.at is not None and (run_at is None or abs(run_at - self.at) > self.within):
            missed.append("at")
        if self.in_ is not None:
            created = _time.from_wire(payload.get("created_at"))
            if run_at is None or created is None or abs(run_at - created - self.in_) > self.within:
                missed.append("in_")
        for key, value in self.fields.items():
            if value != payload.get(key, _MISSING):
                missed.append(key)
        return missed

    def describe(self) -> str:
        parts = [self.name or "a job"]
        if self.args is not None:
            parts.append(f"with args {_repr.repr(self.args)}")
        if self.queue is not None:
            parts.append(f"on queue {self.queue!r}")
        if self.at is not None:
            parts.append(f"at {_format_time(self.at)} (±{self.within:g}s)")
        if self.in_ is not None:
            parts.append(f"in {self.in_:g}s (±{self.within:g}s)")
        if self.immediately:
            parts.append("immediately")
        parts.extend(f"{key}={_repr.repr(value)}" for key, value in self.fields.items())
        return " ".join(parts)


def _describe_job(payload: Mapping[str, Any], extra_keys: Sequence[str] = ()) -> str:
    text = f"{payload.get('class')} on {payload.get('queue')!r} args={_repr.repr(payload.get('args'))}"
    run_at = _time.from_wire(payload.get("at"))
    if run_at is None:
        text += " immediately"
    else:
        created = _time.from_wire(payload.get("created_at"))
        delay = f" (in {run_at - created:g}s)" if created is not None else ""
        text += f" at {_format_time(run_at)}{delay}"
    for key in extra_keys:
        value = payload.get(key, _MISSING)
        text += f" {key}={'(absent)' if value is _MISSING else _repr.repr(value)}"
    return text


def _listing(expectation: _Expectation, jobs: Sequence[Mapping[str, Any]], limit: int = 20) -> str:
    """What was enqueued, with what each job missed; the part of a failure message that explains it."""
    from sidequest.testing import mode

    if not jobs:
        text = "No job was enqueued at all."
        if mode() != "fake":
            text += (
                f" sidequest is in {mode()} mode, which captures nothing: use the sidequest_fake fixture or "
                "sidequest.testing.fake()."
            )
        return text
    same = [job for job in jobs if expectation.name is None or job.get("class") == expectation.name]
    shown = same or jobs
    if same:
        heading = f"{expectation.name or 'Jobs'} enqueued ({len(same)}):"
    else:
        heading = f"No {expectation.name} job was enqueued; other jobs enqueued ({len(jobs)}):"
    lines = [heading]
    for index, job in enumerate(shown[:limit], 1):
        missed = expectation.misses(job)
        note = f"  <- differs in: {', '.join(missed)}" if missed and same else ""
        lines.append(f"  {index}. {_describe_job(job, list(expectation.fields))}{note}")
    if len(shown) > limit:
        lines.append(f"  ... and {len(shown) - limit} more")
    return "\n".join(lines)


def _find(expectation: _Expectation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    everything = queues.all_jobs()
    return [job for job in everything if not expectation.misses(job)], everything


def assert_enqueued(
    job: JobRef | None = None,
    *,
    args: Sequence[Any] | None = None,
    queue: str | None = None,
    at: Moment | None = None,
    in_: float | int | timedelta | None = None,
    immediately: bool = False,
    count: int | Count | None = None,
    within: float = 1.0,
    **payload_fields: Any,
) -> list[dict[str, Any]]:
    """Fail unless fake mode captured matching jobs (at least one, or count); returns the matches.

    args: the job's arguments, exactly (use unittest.mock.ANY for one you do not care about).
    at: the scheduled time (aware datetime or epoch seconds); in_: the delay it was scheduled with
    (seconds or timedelta), measured from its created_at; both within ``within`` seconds.
    immediately: not scheduled. count: an int, or exactly(n) / at_least(n) / at_most(n).
    Any other keyword compares a payload field: ``retry=5``, ``tags=["billing"]``.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    expectation = _Expectation(job, args, queue, at, in_, immediately, within, payload_fields)
    wanted = _as_count(count)
    matches, everything = _find(expectation)
    if not wanted.matches(len(matches)):
        found = "no enqueued job matched" if not matches else f"{_times(len(matches))} matched"
        raise AssertionError(
            f"expected {expectation.describe()} to be enqueued {wanted}, but {found}.\n"
            f"{_listing(expectation, everything)}"
        )
    return matches


def refute_enqueued(
    job: JobRef | None = None,
    *,
    args: Sequence[Any] | None = None,
    queue: str | None = None,
    at: Moment | None = None,
    in_: float | int | timedelta | None = None,
    immediately: bool = False,
    within: float = 1.0,
    **payload_fields: Any,
) -> None:
    """Fail if fake mode captured any job matching these criteria (same meaning as assert_enqueued)."""
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    expectation = _Expectation(job, args, queue, at, in_, immediately, within, payload_fields)
    matches, _ = _find(expectation)
    if matches:
        lines = [
            f"  {i}. {_describe_job(p, list(expectation.fields))}" for i, p in enumerate(matches[:20], 1)
        ]
        raise AssertionError(
            f"expected {expectation.describe()} not to be enqueued, but {_times(len(matches))} was:\n"
            + "\n".join(lines)
        )


def all_enqueued(
    job: JobRef | None = None,
    *,
    queue: str | None = None,
    args: Sequence[Any] | None = None,
    **payload_fields: Any,
) -> list[dict[str, Any]]:
    """The captured payloads matching the criteria, in enqueue order (no assertion: inspect them yourself)."""
    expectation = _Expectation(job, args, queue, None, None, False, 1.0, payload_fields)
    return _find(expectation)[0]


# ---- job options ---------------------------------------------------------------------------------
def _options(job: JobRef) -> tuple[str, dict[str, Any]]:
    """A job's effective options: definition options plus any .set() overrides the reference carries."""
    if isinstance(job, Enqueuer):
        return job.name, job.options
    name = job_name(job)
    return name, dict(registry.lookup(name).options)


def assert_retryable(job: JobRef, expected: bool | int = True) -> None:
    """Fail unless job retries (True), never retries (False), or retries exactly expected times (int).

    retry=True means the configured max_retries (25 by default), so assert_retryable(job, 25) passes too.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    name, options = _options(job)
    retry = options.get("retry", True)
    max_retries = get_config().settings.max_retries
    attempts = max_retries if retry is True else 0 if retry is False else int(retry)
    if expected is True:
        ok, wanted = attempts > 0, "to be retryable"
    elif expected is False:
        ok, wanted = attempts == 0, "not to be retryable"
    else:
        ok, wanted = attempts == expected, f"to be retried {_times(expected)}"
    if not ok:
        meaning = f" (max_retries, {max_retries})" if retry is True else ""
        raise AssertionError(f"expected {name} {wanted}, but its retry option is {retry!r}{meaning}")


def assert_processed_in(job: JobRef, queue: str) -> None:
    """Fail unless job is enqueued on queue by default."""
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    name, options = _options(job)
    actual = options.get("queue", "default")
    if actual != queue:
        raise AssertionError(
            f"expected {name} to be processed in queue {queue!r}, but its queue is {actual!r}"
        )


def assert_saves_backtrace(job: JobRef, expected: bool | int = True) -> None:
    """Fail unless failed runs of job keep a backtrace (True), keep none (False), or keep expected lines."""
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    name, options = _options(job)
    actual = options.get("backtrace", False)
    if expected is True:
        ok = bool(actual)
    elif expected is False:
        ok = not actual
    else:
        ok = actual == expected and not isinstance(actual, bool)
    if not ok:
        raise AssertionError(
            f"expected {name} to have backtrace={expected!r}, but its backtrace option is {actual!r}"
        )


def assert_job_option(job: JobRef, key: str, value: Any) -> None:
    """Fail unless job's option key equals value (for options a middleware owns too)."""
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    assert_job_options(job, **{key: value})


def assert_job_options(job: JobRef, **expected: Any) -> None:
    """Fail unless each given option of job has the given value; the message shows all its options."""
    __tracebackhide__ = True  # pytest shows the failure at the caller's line, not in here
    name, options = _options(job)
    wrong = [
        f"{key}: expected {value!r}, got {options[key]!r}"
        if key in options
        else f"{key}: expected {value!r}, not set"
        for key, value in expected.items()
        if value != options.get(key, _MISSING)
    ]
    if wrong:
        raise AssertionError(f"{name} options differ: {'; '.join(wrong)}. Its options are {options!r}")


# ---- running one job -----------------------------------------------------------------------------
def perform_job(job: JobRef, *args: Any, **payload_fields: Any) -> Any:
    """Run job once with args, as a worker would, and return its result.

    The payload is built as the client builds it (a non-JSON argument raises JobArgumentError naming
    it, as enqueueing would), round-tripped through JSON, and run through the server middleware. Keyword
    arguments become payload fields (``retry_count=2``, ``tags=[...]``). No retries: the job's exception
    propagates. Client middleware does not run (nothing is enqueued).
    """
    from sidequest.runtime.execute import run_job

    name, options = _options(job)
    registry.lookup(name)
    stamp = _time.now()
    payload = wire.build(name, args, {**options, **payload_fields}, stamp)
    payload["enqueued_at"] = stamp
    try:
        raw = wire.dumps(payload)
    except (TypeError, ValueError):
        for key, value in payload_fields.items():
            wire.check_args([value], f"{name} (payload field {key!r})")
        raise
    _, result = run_job(wire.loads(raw), get_config(), run_coroutine=run_coroutine)
    return result


__all__ = [
    "Count",
    "all_enqueued",
    "assert_enqueued",
    "assert_job_option",
    "assert_job_options",
    "assert_processed_in",
    "assert_retryable",
    "assert_saves_backtrace",
    "at_least",
    "at_most",
    "exactly",
    "perform_job",
    "refute_enqueued",
]
