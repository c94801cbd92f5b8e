"""Clock helpers: one place that knows Sidekiq's two timestamp encodings.

Sidekiq up to 7.x writes float seconds; 8.x writes integer milliseconds. We always write float seconds
(every version reads them) and read both: a JSON float is seconds, a JSON integer is milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

#: Sidekiq's cut-off in perform_in/perform_at: smaller numbers are a delay, larger ones a point in time.
ABSOLUTE_THRESHOLD = 1_000_000_000


#: Where now() reads the time; sidequest.testing's clock swaps it to freeze or move time in tests.
_source: Callable[[], float] = time.time


def now() -> float:
    """Wall-clock time as float epoch seconds, the unit of every score and timestamp we write."""
    return _source()


def set_source(source: Callable[[], float] | None) -> None:
    """Read the time from source instead of time.time (None restores it); for test clocks only."""
    global _source
    _source = time.time if source is None else source


def from_wire(value: object) -> float | None:
    """Read a payload timestamp: float = seconds (Sidekiq <= 7), int = milliseconds (Sidekiq 8)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value / 1000.0
    if isinstance(value, float):
        return value
    return None


def to_datetime(value: object) -> datetime | None:
    """A payload timestamp as an aware UTC datetime, or None when absent or malformed."""
    seconds = from_wire(value)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


#: Above this, an epoch number is milliseconds (JavaScript's Date.now(), Sidekiq 8's payloads): as
#: seconds it would be the year 5138. Refused with a hint rather than guessed.
MILLISECONDS_THRESHOLD = 100_000_000_000


def run_at(when: object, *, relative: bool, job: str = "job") -> float:
    """Turn perform_in/perform_at input into epoch seconds, or raise ScheduleError naming job.

    perform_in takes seconds or a timedelta; perform_at takes an aware datetime or epoch seconds.
    As in Sidekiq, a number below 1e9 is always a delay, so perform_at(30) means "in 30 s".
    """
    from sidequest.errors import ScheduleError

    what = "perform_in" if relative else "perform_at"
    if isinstance(when, timedelta):
        return now() + when.total_seconds()
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ScheduleError(
                f"{what} of {job} got {when!r}, a naive datetime; pass an aware one "
                "(e.g. datetime.now(UTC) + timedelta(hours=1)) so the run time is unambiguous"
            )
        return when.timestamp()
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise ScheduleError(
            f"{what} of {job} got {when!r} ({type(when).__name__}); pass seconds as an int or float, "
            "a timedelta or an aware datetime" + (f" (e.g. float({when!r}))" if isinstance(when, str) else "")
        )
    seconds = float(when)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ScheduleError(f"{what} of {job} got {when!r}; pass a finite number of seconds")
    if seconds > MILLISECONDS_THRESHOLD:
        raise ScheduleError(
            f"{what} of {job} got {when!r}, which as epoch seconds is after the year 5000: it looks like "
            f"milliseconds; pass {when!r} / 1000 (seconds) or an aware datetime"
        )
    if relative or seconds < ABSOLUTE_THRESHOLD:
        return now() + seconds
    return seconds


def utc_day(epoch: float | None = None) -> str:
    """The UTC date Sidekiq uses in its daily stat keys, e.g. 2026-11-28."""
    return datetime.fromtimestamp(now() if epoch is None else epoch, UTC).strftime("%Y-%m-%d")


def backoff(first: float, cap: float) -> Iterator[float]:
    """Delays for retrying something that failed: first, doubling each time, never above cap.

    The one backoff of the package: waiting for the store at start, retrying a store write whose
    outcome must not be lost, and SQLite's wait for a lock (which adds its own jitter).
    """
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)
