"""Periodic schedules for operators: list them with their next and last runs, pause, resume, enqueue now.

The CLI (`sidequest periodic ...`) and the dashboard call these; they never call the store directly.
Schedules are whatever the workers last synced to the store: declaring or removing one happens in
code (or the settings file) and takes effect when a worker starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sidequest._time import now
from sidequest.config import get_config
from sidequest.errors import SidequestError
from sidequest.periodic.schedule import Schedule
from sidequest.periodic.scheduler import build_payload
from sidequest.stores.base import PeriodicState, Store


class UnknownScheduleError(SidequestError, LookupError):
    """No periodic schedule of that name is in the store."""


@dataclass(frozen=True)
class PeriodicSchedule:
    """One schedule as an operator sees it. Times are epoch seconds; None when not known."""

    name: str
    cron: str
    tz: str
    job: str
    args: list[Any]
    queue: str
    missed: str
    paused: bool
    next_run: float | None  # None while paused
    last_run: float | None  # when its last job was enqueued (by a tick or "enqueue now")
    last_tick: float | None
    last_jid: str | None
    last_outcome: str | None  # "done" or "failed" once its last job has run


def _store(store: Store | None) -> Store:
    return store if store is not None else get_config().store


def _describe(state: PeriodicState, moment: float) -> PeriodicSchedule:
    data = json.loads(state.definition)
    schedule = Schedule.from_definition(state.name, state.definition)
    after = max(moment, state.last_tick or moment)
    options = data.get("payload_options") or {}
    return PeriodicSchedule(
        name=state.name,
        cron=schedule.cron,
        tz=schedule.tz,
        job=schedule.job,
        args=list(schedule.args),
        queue=str(options.get("queue") or schedule.queue or "default"),
        missed=schedule.missed,
        paused=state.paused,
        next_run=None if state.paused else schedule.next_after(after),
        last_run=state.last_enqueued_at,
        last_tick=state.last_tick if state.last_jid else None,
        last_jid=state.last_jid,
        last_outcome=state.last_outcome,
    )


def schedules(store: Store | None = None) -> list[PeriodicSchedule]:
    """Every schedule in the store, by name."""
    moment = now()
    return [_describe(state, moment) for state in _store(store).periodic_states()]


def get(name: str, store: Store | None = None) -> PeriodicSchedule:
    for schedule in schedules(store):
        if schedule.name == name:
            return schedule
    raise _unknown(name, store)


def pause(name: str, store: Store | None = None) -> None:
    """Stop enqueuing name's ticks until resumed (every worker sees it at its next pass)."""
    if not _store(store).periodic_pause(name, True, now()):
        raise _unknown(name, store)


def resume(name: str, store: Store | None = None) -> None:
    """Enqueue name's ticks again from the next one on; ticks that fell while paused are not replayed."""
    if not _store(store).periodic_pause(name, False, now()):
        raise _unknown(name, store)


def enqueue_now(name: str, store: Store | None = None) -> str:
    """Enqueue one job of schedule name now, out of band (the next tick still fires); returns its jid.

    The job carries "periodic": {"name", "tick": now, "manual": true}.
    """
    target = _store(store)
    state = next((s for s in target.periodic_states() if s.name == name), None)
    if state is None:
        raise _unknown(name, store)
    schedule = Schedule.from_definition(name, state.definition)
    options = json.loads(state.definition).get("payload_options")
    moment = now()
    queue, payload, jid = build_payload(schedule, None, moment, options)
    if not target.periodic_enqueue_now(name, queue, payload, jid, moment):
        raise _unknown(name, store)
    return jid


def _unknown(name: str, store: Store | None) -> UnknownScheduleError:
    known = ", ".join(state.name for state in _store(store).periodic_states()) or "none"
    return UnknownScheduleError(
        f"no periodic schedule named {name!r} in the store (known: {known}); schedules are declared in code or "
        "the settings file and appear once a worker has started with them"
    )
