"""A controllable clock for tests: freeze time, move it forward, travel to a moment.

While frozen, every timestamp sidequest writes (``created_at``, ``enqueued_at``, ``at`` of
``perform_in``) reads this clock, so a test can compare them exactly, and fake-mode ``drain`` runs only
the jobs due by the frozen time. That is what makes scheduled jobs and retries with backoff testable
without sleeping: enqueue, advance the clock, drain again.

There is one clock per process, like the testing mode; ``sidequest_clock`` (pytest fixture) freezes it
for one test and always unfreezes it afterwards.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from types import TracebackType

from sidequest import _time

Moment = float | int | datetime


def epoch_seconds(when: Moment) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(
                f"{when!r} is a naive datetime; pass an aware one (e.g. datetime(..., tzinfo=UTC))"
            )
        return when.timestamp()
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise TypeError(f"expected epoch seconds or an aware datetime, got {type(when).__name__} {when!r}")
    return float(when)


def duration_seconds(by: float | int | timedelta) -> float:
    if isinstance(by, timedelta):
        return by.total_seconds()
    if isinstance(by, bool) or not isinstance(by, int | float):
        raise TypeError(f"expected seconds or a timedelta, got {type(by).__name__} {by!r}")
    return float(by)


class Clock:
    """The process's test clock: real time until frozen, then only what the test says.

    ``freeze()`` works as a plain call and as a context manager; leaving the ``with`` block puts back
    whatever was there before (another frozen time, or real time), so nested blocks unwind in order.
    """

    def __init__(self) -> None:
        self._frozen_at: float | None = None
        self._saved: list[float | None] = []

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> float:
        """The time sidequest sees, as epoch seconds."""
        return time.time() if self._frozen_at is None else self._frozen_at

    def freeze(self, at: Moment | None = None) -> Clock:
        """Stop time at at (default: now); ``with clock.freeze(): ...`` restores the previous state."""
        self._saved.append(self._frozen_at)
        self._set(self.now() if at is None else epoch_seconds(at))
        return self

    def advance(self, by: float | int | timedelta) -> float:
        """Move time forward by seconds or a timedelta (freezing it first if needed); returns the new time."""
        step = duration_seconds(by)
        if step < 0:
            raise ValueError(f"cannot advance the clock by {step} s; use travel() to go back in time")
        self._set(self.now() + step)
        return self.now()

    def travel(self, to: Moment) -> float:
        """Jump to a moment, forward or back (freezing time if needed); returns it as epoch seconds."""
        self._set(epoch_seconds(to))
        return self.now()

    def unfreeze(self) -> None:
        """Back to real time, whatever was frozen before."""
        self._saved.clear()
        self._frozen_at = None
        _time.set_source(None)

    def _set(self, at: float) -> None:
        self._frozen_at = at
        _time.set_source(self.now)

    def __enter__(self) -> Clock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        previous = self._saved.pop() if self._saved else None
        if previous is None:
            self._frozen_at = None
            _time.set_source(None)
        else:
            self._set(previous)


#: The one clock sidequest reads in tests.
clock = Clock()
