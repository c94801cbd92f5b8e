"""What happens when a job raises: Sidekiq's retry rules, field for field.

Retry is core, not middleware: removing it would mark failures as done. The fields written
(retry_count, error_class, error_message, failed_at, retried_at, error_backtrace) and the backoff
(count**4 + 15 seconds plus jitter) are Sidekiq's, so Ruby's Web UI and API read our retries as theirs.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

from sidequest import payload as wire
from sidequest.config import Config
from sidequest.errors import ConfigError
from sidequest.job import JobDefinition

logger = logging.getLogger("sidequest")

Outcome = Literal["retry", "dead", "discard", "drop"]


@dataclass(frozen=True)
class Decision:
    """Where a failed job goes next: the retry set at score, the dead set, or nowhere."""

    outcome: Outcome
    payload: dict[str, Any]
    score: float = 0.0
    #: the job's retry limit (its retry option, else the max_retries setting)
    max_retries: int = 0

    def plan(self) -> str:
        """What happens next, for the job's fail line: "retry 2 of 5 at 11:36:06" (UTC, as the line's
        time; the date too when it is not today), "dead", "discarded" or why the job is dropped."""
        if self.outcome == "retry":
            count = self.payload.get("retry_count", 0)
            at = time.gmtime(self.score)
            clock = "%H:%M:%S" if at[:3] == time.gmtime()[:3] else "%Y-%m-%d %H:%M:%S"
            return f"retry {count + 1} of {self.max_retries} at {time.strftime(clock, at)}"
        if self.outcome == "drop":
            return "dropped (retry: false)" if self.payload.get("retry") is False else "dropped (dead: false)"
        return "discarded" if self.outcome == "discard" else "dead"


def backoff(count: int, *, rng: random.Random | None = None) -> float:
    """Sidekiq's default delay before retry number count+1: count**4 + 15 s plus jitter rand(10)*(count+1)."""
    jitter = (rng or random).randrange(10) * (count + 1)
    return count**4 + 15 + jitter


def format_backtrace(exc: BaseException, limit: int | None) -> list[str]:
    """Backtrace lines in Ruby's 'file:line:in `method'' shape, innermost first, as Sidekiq shows them."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f"{frame.filename}:{frame.lineno}:in `{frame.name}'" for frame in reversed(frames)]
    return lines if limit is None else lines[:limit]


def error_message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "!!! ERROR MESSAGE THREW AN ERROR !!!"
    return text[: wire.MAX_ERROR_MESSAGE]


def decide(
    job: dict[str, Any],
    exc: BaseException,
    definition: JobDefinition | None,
    config: Config,
    now: float,
    *,
    instance: Any,
) -> Decision:
    """Record the failure on job (mutated in place) and decide its next step.

    The hooks run here, on instance: the one that performed the job (execute.resolve built it), or
    None when the job could not be resolved (then definition is None too and no hook runs).
    """
    settings = config.settings
    retry = job.get("retry", True)
    max_retries = retry if isinstance(retry, int) and not isinstance(retry, bool) else settings.max_retries

    # fields written by another client may have any JSON type: read each one defensively, so a
    # failure is always recorded somewhere (a non-string queue would make the entry unreadable later)
    job["queue"] = next(
        (q for q in (job.get("retry_queue"), job.get("queue")) if isinstance(q, str) and q), "default"
    )
    job["error_message"] = error_message(exc)
    job["error_class"] = type(exc).__name__
    if "retry_count" in job and isinstance(job["retry_count"], int):
        job["retried_at"] = now
        job["retry_count"] += 1
    else:
        job["failed_at"] = now
        job["retry_count"] = 0
    count: int = job["retry_count"]

    backtrace = job.get("backtrace")
    if backtrace:
        limit = backtrace if isinstance(backtrace, int) and not isinstance(backtrace, bool) else None
        job["error_backtrace"] = wire.encode_backtrace(format_backtrace(exc, limit))

    if retry is False:
        # Sidekiq: retry: false never retries and never goes to the dead set; death handlers still run.
        _run_death_handlers(job, exc, config)
        return Decision("drop", job)

    exhausted = count >= max_retries
    failed_at = job.get("failed_at")
    retry_for = job.get("retry_for")
    if isinstance(retry_for, int | float) and isinstance(failed_at, int | float):
        from sidequest._time import from_wire

        first = from_wire(failed_at) or now
        exhausted = exhausted or first + retry_for < now

    delay: float | None = None
    if not exhausted and definition is not None:
        try:
            answer = definition.retry_in(instance, count, exc)
        except Exception as hook_error:
            config.handle_error(hook_error, {"context": "retry_in hook raised", "job": job})
            answer = None
        if answer == "discard":
            job["discarded_at"] = now
            return Decision("discard", job)
        if answer == "kill":
            exhausted = True
        elif isinstance(answer, int | float) and not isinstance(answer, bool) and answer == 0:
            delay = 0.0  # now (Sidekiq would use its default backoff; a 0 that waits surprises)
        elif isinstance(answer, int | float) and not isinstance(answer, bool) and answer > 0:
            # Sidekiq adds its jitter to the hook's value too
            delay = float(answer) + random.randrange(10) * (count + 1)
        elif answer is not None:
            config.handle_error(
                ConfigError(
                    f"retry_in of {definition.name} returned {answer!r}; return a number of seconds (0 or "
                    'more), "kill", "discard" or None (the default backoff). Using the default backoff'
                ),
                {"context": "retry_in hook returned an unknown answer", "job": job},
            )

    if not exhausted:
        # count is capped for the backoff: 1000**4 s is already beyond any real schedule, and a
        # huge retry_count from another client must not overflow the float score
        return Decision(
            "retry", job, now + (delay if delay is not None else backoff(min(count, 1000))), max_retries
        )
    return _exhausted(job, exc, definition, config, instance)


def _exhausted(
    job: dict[str, Any], exc: BaseException, definition: JobDefinition | None, config: Config, instance: Any
) -> Decision:
    answer = None
    if definition is not None:
        try:
            answer = definition.retries_exhausted(instance, job, exc)
        except Exception as hook_error:
            config.handle_error(hook_error, {"context": "retries_exhausted hook raised", "job": job})
    if answer == "discard":
        return Decision("discard", job)
    _run_death_handlers(job, exc, config)
    if job.get("dead") is False:
        return Decision("drop", job)
    return Decision("dead", job)


def _run_death_handlers(job: dict[str, Any], exc: BaseException, config: Config) -> None:
    for handler in config.death_handlers:
        try:
            handler(job, exc)
        except Exception as handler_error:
            config.handle_error(handler_error, {"context": "death handler raised", "job": job})
