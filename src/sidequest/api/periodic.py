"""Periodic schedules for operators: list them with their next and last runs, pause, resume, enqueue now.

The CLI (``sidequest periodic ...``) and the dashboard call this, never the store's periodic methods.
Schedules are whatever the workers last synced to the store: declaring or removing one happens in
code (or the settings file) and takes effect when a worker starts::

    from sidequest import api

    for schedule in api.Periodic(store).schedules():
        print(schedule.name, schedule.next_run, schedule.last_outcome)
    api.Periodic(store).pause("nightly")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sidequest._time import now
from sidequest.api._store import resolve
from sidequest.errors import SidequestError
from sidequest.periodic.schedule import Schedule
from sidequest.periodic.scheduler import build_payload
from sidequest.stores.base import PeriodicState, Store


class UnknownScheduleError(SidequestError, LookupError):
    """No periodic schedule of that name is in the store."""


@dataclass(frozen=True)
class PeriodicSchedule:
    """One schedule as an operator sees it. Times are aware UTC datetimes; None when not known."""

    name: str
    cron: str
    tz: str
    job: str
    args: list[Any]
    queue: str
    missed: str
    paused: bool
    next_run: datetime | None  # None while paused
    last_run: datetime | None  # when its last job was enqueued (by a tick or by "enqueue now")
    last_tick: datetime | None  # the last tick enqueued
    last_jid: str | None
    last_outcome: str | None  # "done" or "failed" once the last job has run


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _describe(state: PeriodicState, moment: float) -> PeriodicSchedule:
    schedule = Schedule.from_definition(state.name, state.definition)
    options = json.loads(state.definition).get("payload_options") or {}
    after = max(moment, state.last_tick or moment)
    return PeriodicSchedule(
        name=state.name,
        cron=schedule.cron,
        tz=schedule.tz,
        job=schedule.job,
        args=list(schedule.args),
        queue=str(options.get("queue") or schedule.queue or "default"),
        missed=schedule.missed,
        paused=state.paused,
        next_run=None if state.paused else _utc(schedule.next_after(after)),
        last_run=_utc(state.last_enqueued_at),
        last_tick=_utc(state.last_tick) if state.last_jid else None,
        last_jid=state.last_jid,
        last_outcome=state.last_outcome,
    )


class Periodic:
    """The periodic schedules of a store (the configured one when store is None)."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def schedules(self) -> list[PeriodicSchedule]:
        """Every schedule in the store, by name."""
        moment = now()
        return [_describe(state, moment) for state in self.store.periodic_states()]

    def get(self, name: str) -> PeriodicSchedule:
        for schedule in self.schedules():
            if schedule.name == name:
                return schedule
        raise self._unknown(name)

    def pause(self, name: str) -> None:
        """Stop enqueuing name's ticks until resumed (every worker sees it at its next pass)."""
        if not self.store.periodic_pause(name, True, now()):
            raise self._unknown(name)

    def resume(self, name: str) -> None:
        """Enqueue name's ticks again from the next one on; those that fell while paused are not replayed."""
        if not self.store.periodic_pause(name, False, now()):
            raise self._unknown(name)

    def enqueue_now(self, name: str) -> str:
        """Enqueue one job of schedule name now, out of band (the next tick still fires); returns its jid.

        The job carries "periodic": {"name", "tick": now, "manual": true}.
        """
        state = next((s for s in self.store.periodic_states() if s.name == name), None)
        if state is None:
            raise self._unknown(name)
        schedule = Schedule.from_definition(name, state.definition)
        options = json.loads(state.definition).get("payload_options")
        moment = now()
        queue, payload, jid = build_payload(schedule, None, moment, options)
        if not self.store.periodic_enqueue_now(name, queue, payload, jid, moment):
            raise self._unknown(name)
        return jid

    def _unknown(self, name: str) -> UnknownScheduleError:
        known = ", ".join(state.name for state in self.store.periodic_states()) or "none"
        return UnknownScheduleError(
            f"no periodic schedule named {name!r} in the store (known: {known}); schedules are declared in "
            "code or the settings file and appear once a worker has started with them"
        )
