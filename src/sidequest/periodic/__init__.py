"""Periodic (cron) jobs, enqueued by every worker and exactly once per tick.

Declare schedules in code with ``sidequest.periodic("*/5 * * * *", sync_dns, name="sync-dns")`` or in
the settings file as ``[periodic.NAME]`` tables. Each worker process runs a small scheduler thread
(scheduler.py); the store's ``periodic_claim`` decides atomically which one enqueues a tick, so any
number of workers enqueue each tick once. See docs/periodic.md for the guarantees.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sidequest.periodic.schedule import GRACE, Missed, PeriodicError, Schedule, from_table, job_name_of

__all__ = ["GRACE", "PeriodicError", "Schedule", "declared", "forget", "from_table", "periodic"]

_lock = threading.Lock()
_declared: dict[str, Schedule] = {}


def periodic(
    cron: str,
    job: object,
    *,
    name: str | None = None,
    args: Sequence[Any] = (),
    queue: str | None = None,
    tz: str = "UTC",
    missed: Missed = "skip",
    pass_tick: bool = False,
    **options: Any,
) -> Schedule:
    """Enqueue job on a cron schedule, from every worker that imports this declaration, once per tick.

    cron: five fields, six with seconds first ("*/10 * * * * *"), or an alias (@hourly, @daily, ...),
    read in time zone tz (an IANA name). name identifies the schedule in the store (default: the job's
    name): renaming a schedule makes it a new one. missed: what to do with ticks missed while no worker
    ran: "skip" them, or enqueue the "latest" missed tick once. pass_tick: append the tick (epoch
    seconds) to the job's arguments, for jobs that cannot read their payload. options: retry, tags, backtrace, dead,
    retry_for, expires_in for the enqueued jobs. The expression and time zone are checked here; the job
    is checked at worker start (it may be registered after this call).
    """
    job_name = job_name_of(job)
    schedule = Schedule(
        name=name or job_name,
        cron=cron,
        job=job_name,
        args=tuple(args),
        queue=queue,
        tz=tz,
        missed=missed,
        options=dict(options),
        pass_tick=pass_tick,
    )
    with _lock:
        existing = _declared.get(schedule.name)
        if existing is not None and existing != schedule:
            raise PeriodicError(
                f"two periodic schedules are named {schedule.name!r} ({existing.cron} for {existing.job} and "
                f"{schedule.cron} for {schedule.job}); give one of them another name="
            )
        _declared[schedule.name] = schedule
    return schedule


def declared(settings_tables: Mapping[str, Any] | None = None) -> list[Schedule]:
    """Schedules declared in code plus those of the settings file's [periodic.NAME] tables, by name."""
    with _lock:
        found = dict(_declared)
    for name, table in (settings_tables or {}).items():
        schedule = from_table(str(name), table)
        if name in found and found[name] != schedule:
            raise PeriodicError(
                f"periodic schedule {name!r} is declared both in code and in the settings file; keep one"
            )
        found[name] = schedule
    return [found[name] for name in sorted(found)]


def forget(name: str | None = None) -> None:
    """Drop one declared schedule, or all (tests, and apps that build schedules dynamically)."""
    with _lock:
        if name is None:
            _declared.clear()
        else:
            _declared.pop(name, None)
