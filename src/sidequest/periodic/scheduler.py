"""The periodic scheduler of one worker process: claim each due tick and enqueue its job.

Every worker runs one, and they never coordinate directly: the store's ``periodic_claim`` is a
compare-and-set on the schedule's last claimed tick, done in the same atomic step as the push of the
tick's job. Each scheduler walks due ticks oldest first, so the first claim of any tick at or after T
comes from a scheduler that tried T before; T is therefore enqueued exactly once while at least one
scheduler runs (docs/periodic.md has the argument and the faults it covers).

A tick at most GRACE seconds old is "on time" and is always enqueued; older ones were missed by an
outage, and the schedule's policy skips them or enqueues the latest one once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sidequest import payload as wire
from sidequest import registry
from sidequest._time import now as clock_now
from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.periodic import declared
from sidequest.periodic.schedule import GRACE, PeriodicError, Schedule
from sidequest.stores.base import PeriodicState, Store

logger = logging.getLogger("sidequest")

#: The longest a scheduler sleeps, so pauses, resumes and new schedules are seen within a second.
MAX_SLEEP = 1.0


def load(config: Config) -> list[Schedule]:
    """The schedules this process declares (code and settings file), each checked against the registry.

    Raises PeriodicError naming the schedule when its job is not registered: a worker must not start
    with a schedule that would enqueue jobs nobody can run.
    """
    tables = getattr(config.settings, "periodic", None) or {}
    schedules = declared(tables)
    for schedule in schedules:
        if registry.find(schedule.job) is None:
            known = ", ".join(registry.names()) or "none"
            raise PeriodicError(
                f"periodic schedule {schedule.name!r} names job {schedule.job!r}, which is not registered in this "
                f"process (registered jobs: {known}); load its module with -r or fix the name"
            )
    return schedules


def payload_options(schedule: Schedule) -> dict[str, Any]:
    """The options of schedule's jobs: the job's own (JSON-native ones), then the schedule's, then its queue.

    Worked out where the job is registered (the worker) and stored with the schedule, so an operator
    process that never imported the job can still enqueue it with the right queue and retry policy.
    """
    definition = registry.find(schedule.job)
    options: dict[str, Any] = {"retry": True, "queue": "default"}
    if definition is not None:
        # callables (unique_key=...) stay out of the payload
        options.update({k: v for k, v in definition.options.items() if not callable(v)})
    options.update(schedule.options)
    if schedule.queue:
        options["queue"] = schedule.queue
    return options


def build_payload(
    schedule: Schedule, tick: float | None, now: float, options: dict[str, Any] | None = None
) -> tuple[str, str, str]:
    """(queue, payload, jid) for schedule's job at tick (None: enqueued out of band, "enqueue now")."""
    moment = now if tick is None else tick
    args = [*schedule.args, moment] if schedule.pass_tick else list(schedule.args)
    job = wire.build(schedule.job, args, options or payload_options(schedule), now)
    job["periodic"] = {"name": schedule.name, "tick": moment}
    if tick is None:
        job["periodic"]["manual"] = True
    job["enqueued_at"] = now
    return str(job["queue"]), wire.dumps(job), str(job["jid"])


def stored_definition(schedule: Schedule) -> str:
    """What the store keeps for a schedule: its definition plus the options its jobs are built with."""
    data = json.loads(schedule.definition())
    data["payload_options"] = payload_options(schedule)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def due_ticks(schedule: Schedule, last_tick: float | None, now: float) -> list[float]:
    """The ticks to claim now, oldest first: on-time ticks, plus the latest missed one under "latest"."""
    last = now if last_tick is None else last_tick
    on_time_from = max(last, now - GRACE)
    ticks = list(schedule.ticks(on_time_from, now))
    if schedule.missed == "latest" and last < now - GRACE:
        missed = schedule.latest_at_or_before(now - GRACE)
        if missed > last:
            ticks.insert(0, missed)
    return ticks


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Scheduler:
    """Claims and enqueues the ticks of this process's schedules; ``step`` is one pass."""

    def __init__(self, config: Config, store: Store, schedules: Sequence[Schedule] | None = None) -> None:
        self.config = config
        self.store = store
        self.schedules = list(load(config) if schedules is None else schedules)
        self.enqueued = 0
        self._synced = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self, now: float | None = None) -> list[str]:
        """Write this process's schedules to the store, dropping the ones no longer declared."""
        removed = self.store.periodic_sync(
            {s.name: stored_definition(s) for s in self.schedules}, clock_now() if now is None else now
        )
        if removed:
            logger.warning("periodic: removed schedule(s) no longer declared: %s", ", ".join(removed))
        return removed

    def step(self, now: float | None = None) -> int:
        """Claim every due tick of every schedule; returns how many jobs this process enqueued."""
        if not self.schedules:
            return 0
        moment = clock_now() if now is None else now
        states: dict[str, PeriodicState] = {s.name: s for s in self.store.periodic_states()}
        enqueued = 0
        for schedule in self.schedules:
            state = states.get(schedule.name)
            if state is None or state.paused:
                continue
            for tick in due_ticks(schedule, state.last_tick, moment):
                queue, payload, jid = build_payload(schedule, tick, moment)
                if self.store.periodic_claim(schedule.name, tick, queue, payload, jid, moment):
                    enqueued += 1
                    logger.info("periodic: enqueued %s for tick %s (jid %s)", schedule.name, _iso(tick), jid)
        self.enqueued += enqueued
        return enqueued

    def next_wake(self, now: float) -> float:
        """When the next tick of any schedule falls, capped at MAX_SLEEP from now."""
        wake = now + MAX_SLEEP
        for schedule in self.schedules:
            wake = min(wake, schedule.next_after(now))
        return wake

    # ---- the thread ------------------------------------------------------------------------------
    def start(self) -> None:
        """Sync the schedules, then run the loop in a thread (nothing to do without schedules)."""
        if not self.schedules:
            return
        try:
            self.sync()
            self._synced = True
        except StoreError as exc:  # the loop syncs once the store is back, before any claim
            logger.error("periodic: could not store the schedules yet: %s", exc)
        install_outcome_middleware(self.config)
        names = ", ".join(f"{s.name} ({s.cron} {s.tz})" for s in self.schedules)
        logger.info("periodic: %d schedule(s): %s", len(self.schedules), names)
        self._thread = threading.Thread(target=self._loop, name="sidequest-periodic", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                if not self._synced:
                    self.sync()
                    self._synced = True
                self.step(time.time())
            except StoreError as exc:
                if not failing:
                    logger.error("periodic: %s", exc)
                    failing = True
                self._stop.wait(1.0)
                continue
            except Exception as exc:  # a bug here must not end periodic enqueues for good
                self.config.handle_error(exc, {"context": "periodic scheduler"})
                self._stop.wait(1.0)
                continue
            if failing:
                logger.warning("periodic: the store is reachable again")
                failing = False
            moment = time.time()
            # a hair after the tick, so a clock that reads the tick's own instant counts it as due
            self._stop.wait(max(0.0, self.next_wake(moment) - moment + 0.001))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class PeriodicOutcome:
    """Server middleware: record whether a periodic job succeeded, for `sidequest periodic list`."""

    options: frozenset[str] = frozenset()

    def __init__(self, store_of: Callable[[], Store]) -> None:
        self.store_of = store_of

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        periodic = payload.get("periodic")
        if not isinstance(periodic, dict) or not isinstance(periodic.get("name"), str):
            return call_next()
        try:
            result = call_next()
        except BaseException:
            self._record(periodic["name"], payload, "failed")
            raise
        self._record(periodic["name"], payload, "done")
        return result

    def _record(self, name: str, payload: dict[str, Any], outcome: str) -> None:
        try:
            self.store_of().periodic_outcome(name, str(payload.get("jid", "")), outcome, clock_now())
        except StoreError as exc:  # the job's own outcome matters more than this record
            logger.warning("periodic: could not record the outcome of %s: %s", name, exc)


def install_outcome_middleware(config: Config) -> None:
    """Add PeriodicOutcome to the server chain once (first, so it sees every other middleware's result)."""
    if PeriodicOutcome not in config.server_middleware:
        config.server_middleware.prepend(PeriodicOutcome, lambda: config.store)
