"""Testing helpers for periodic, unique and expiring jobs.

- ``tick(by)``: move the test clock forward and enqueue the jobs of every declared schedule whose
  ticks fell in between (into fake mode's lists, inline mode's runner, or the store), then run them
  with ``drain()`` as usual.
- ``next_run(name)`` / ``assert_next_run(name, expected)``: when a declared schedule fires next.
- ``assert_dropped(job, *args)``: a unique job's duplicate enqueue was dropped; ``dropped()`` lists them.
- ``expired()``: the jobs the expiring middleware skipped.

Ticks follow the same rules as the worker's scheduler (sidequest.periodic.scheduler): each enqueued
job carries ``"periodic": {"name", "tick"}``. Client middleware does not run for ticks, as in a worker.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sidequest import client
from sidequest.middleware import expiring, unique
from sidequest.periodic import Schedule, declared
from sidequest.periodic.scheduler import build_payload
from sidequest.testing.clock import Moment, clock, duration_seconds, epoch_seconds
from sidequest.testing.fake import job_name

_lock = threading.Lock()
_dropped: list[dict[str, Any]] = []
_expired: list[dict[str, Any]] = []


def _on_drop(payload: dict[str, Any]) -> None:
    with _lock:
        _dropped.append(json.loads(json.dumps(payload, default=str)))


def _on_expire(payload: dict[str, Any]) -> None:
    with _lock:
        _expired.append(json.loads(json.dumps(payload, default=str)))


if _on_drop not in unique.drop_listeners:
    unique.drop_listeners.append(_on_drop)
if _on_expire not in expiring.expire_listeners:
    expiring.expire_listeners.append(_on_expire)


def reset() -> None:
    """Forget dropped and expired jobs and the unique locks taken in testing modes (between tests)."""
    with _lock:
        _dropped.clear()
        _expired.clear()
    unique.reset_test_locks()


def _schedule(name: str) -> Schedule:
    for schedule in declared():
        if schedule.name == name:
            return schedule
    known = ", ".join(s.name for s in declared()) or "none"
    raise LookupError(f"no periodic schedule named {name!r} is declared (declared: {known})")


def tick(by: float | int | timedelta, *, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Advance the test clock by seconds (or a timedelta) and enqueue every tick that fell due.

    Returns the payloads enqueued, oldest tick first. Only the declared schedules (all, or names)
    count; ticks at the starting instant are not included, ticks at the end instant are.
    """
    start = clock.now()
    end = clock.advance(duration_seconds(by))
    due: list[tuple[float, Schedule]] = []
    for schedule in declared():
        if names is None or schedule.name in names:
            due += [(moment, schedule) for moment in schedule.ticks(start, end)]
    enqueued: list[dict[str, Any]] = []
    for moment, schedule in sorted(due, key=lambda pair: (pair[0], pair[1].name)):
        queue, raw, _jid = build_payload(schedule, moment, end)
        client.get_client().deliver([(queue, None, raw)])
        enqueued.append(json.loads(raw))
    return enqueued


def next_run(name: str, after: Moment | None = None) -> datetime:
    """When declared schedule name fires next after after (default: the test clock's now), in its time zone."""
    schedule = _schedule(name)
    moment = clock.now() if after is None else epoch_seconds(after)
    return datetime.fromtimestamp(schedule.next_after(moment), UTC).astimezone(schedule.zone)


def assert_next_run(name: str, expected: Moment, *, after: Moment | None = None) -> None:
    """Fail unless schedule name next fires exactly at expected (an aware datetime or epoch seconds)."""
    actual = next_run(name, after)
    wanted = epoch_seconds(expected)
    if actual.timestamp() != wanted:
        zone = _schedule(name).zone
        raise AssertionError(
            f"periodic schedule {name!r} next runs at {actual.isoformat()}, expected "
            f"{datetime.fromtimestamp(wanted, UTC).astimezone(zone).isoformat()}"
        )


def dropped(job: object | None = None) -> list[dict[str, Any]]:
    """Payloads of duplicate enqueues the unique middleware dropped (of job, or all)."""
    name = None if job is None else job_name(job)
    with _lock:
        return [p for p in _dropped if name is None or p.get("class") == name]


def assert_dropped(job: object, *args: Any) -> None:
    """Fail unless an enqueue of job with exactly these args was dropped as a duplicate."""
    name = job_name(job)
    found = dropped(job)
    if not any(p.get("args") == list(args) for p in found):
        seen = ", ".join(json.dumps(p.get("args")) for p in found) or "none"
        raise AssertionError(
            f"expected a duplicate of {name} with args {json.dumps(list(args))} to be dropped; dropped {name} "
            f"enqueues: {seen} (is unique_for set on the job and sidequest.middleware.unique installed?)"
        )


def expired(job: object | None = None) -> list[dict[str, Any]]:
    """Payloads the expiring middleware skipped (of job, or all)."""
    name = None if job is None else job_name(job)
    with _lock:
        return [p for p in _expired if name is None or p.get("class") == name]


__all__ = ["assert_dropped", "assert_next_run", "dropped", "expired", "next_run", "reset", "tick"]
