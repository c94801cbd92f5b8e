"""One scheduler pass at chosen moments, on every store: which ticks become jobs, and what they carry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidequest import Job
from sidequest.config import get_config
from sidequest.periodic import Schedule, periodic
from sidequest.periodic.scheduler import Scheduler
from sidequest.stores import Store

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC).timestamp()


class Report(Job, name="tests.periodic.report", queue="reports"):
    def perform(self, kind: str) -> None: ...


def queued(store: Store, queue: str = "reports") -> list[dict[str, object]]:
    return [json.loads(raw) for raw in reversed(store.queue_range(queue, 0, -1))]


def scheduler(store: Store, *schedules: Schedule) -> Scheduler:
    return Scheduler(get_config(), store, list(schedules))


def test_each_due_tick_becomes_one_job_that_knows_its_tick(store: Store) -> None:
    # given a per-minute schedule registered at T0 on two workers
    schedule = Schedule("minutely", "* * * * *", Report.definition.name, args=("daily",))
    first, second = scheduler(store, schedule), scheduler(store, schedule)
    first.sync(T0)
    second.sync(T0 + 1)

    # when both run passes over two and a half minutes
    for moment in (T0 + 30, T0 + 61, T0 + 62, T0 + 125, T0 + 150):
        first.step(moment)
        second.step(moment)

    # then the two ticks were enqueued once each, with the job's options and the tick time
    jobs = queued(store)
    assert [job["periodic"] for job in jobs] == [
        {"name": "minutely", "tick": T0 + 60},
        {"name": "minutely", "tick": T0 + 120},
    ]
    assert all(job["class"] == "tests.periodic.report" and job["args"] == ["daily"] for job in jobs)
    assert first.enqueued + second.enqueued == 2


def test_a_short_outage_is_caught_up_tick_by_tick(store: Store) -> None:
    schedule = Schedule("every-10s", "*/10 * * * * *", Report.definition.name, args=("x",))
    worker = scheduler(store, schedule)
    worker.sync(T0)

    # no pass for 35 s (a worker stalled, or all restarting): still within the grace of 60 s
    worker.step(T0 + 35)

    assert [job["periodic"]["tick"] for job in queued(store)] == [T0 + 10, T0 + 20, T0 + 30]  # type: ignore[index]


@pytest.mark.parametrize(
    ("missed", "expected"), [("skip", [T0 + 3600 * 5]), ("latest", [T0 + 3600 * 4, T0 + 3600 * 5])]
)
def test_after_a_full_outage_missed_ticks_follow_the_schedules_policy(
    store: Store, missed: str, expected: list[float]
) -> None:
    schedule = Schedule("hourly", "@hourly", Report.definition.name, args=("x",), missed=missed)  # type: ignore[arg-type]
    worker = scheduler(store, schedule)
    worker.sync(T0)
    worker.step(T0 + 10)

    # every worker was down from T0 + 10 s to 5 h + 20 s: four hourly ticks fell meanwhile
    worker.step(T0 + 3600 * 5 + 20)

    assert [job["periodic"]["tick"] for job in queued(store)] == expected  # type: ignore[index]


def test_a_schedule_removed_from_code_is_gone_at_the_next_start(store: Store) -> None:
    old = Schedule("old-report", "* * * * *", Report.definition.name, args=("x",))
    kept = Schedule("kept", "* * * * *", Report.definition.name, args=("y",))
    scheduler(store, old, kept).sync(T0)

    # the next deploy no longer declares old-report
    new_worker = scheduler(store, kept)
    removed = new_worker.sync(T0 + 5)
    # a worker still running the old code keeps declaring it, but the store refuses its ticks
    old_worker = scheduler(store, old, kept)
    old_worker.step(T0 + 61)

    assert removed == ["old-report"]
    assert [s.name for s in store.periodic_states()] == ["kept"]
    assert [job["periodic"]["name"] for job in queued(store)] == ["kept"]  # type: ignore[index]


def test_pausing_stops_ticks_and_resuming_does_not_replay_them(store: Store) -> None:
    schedule = Schedule("minutely", "* * * * *", Report.definition.name, args=("x",), missed="latest")
    worker = scheduler(store, schedule)
    worker.sync(T0)

    store.periodic_pause("minutely", True, T0 + 1)
    worker.step(T0 + 61)
    worker.step(T0 + 121)
    store.periodic_pause("minutely", False, T0 + 130)
    worker.step(T0 + 181)

    assert [job["periodic"]["tick"] for job in queued(store)] == [T0 + 180]  # type: ignore[index]


def test_declared_schedules_are_loaded_by_a_worker_and_use_the_schedule_queue(store: Store) -> None:
    periodic("* * * * *", Report, name="to-infra", args=["x"], queue="infra", retry=3)

    worker = Scheduler(get_config(), store)
    worker.sync(T0)
    worker.step(T0 + 60)

    [job] = queued(store, "infra")
    assert (job["queue"], job["retry"], job["periodic"]) == (
        "infra",
        3,
        {"name": "to-infra", "tick": T0 + 60},
    )


@given(
    passes=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2), st.floats(min_value=0.0, max_value=59.0)),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=60, deadline=None)
def test_any_interleaving_of_schedulers_passing_within_the_grace_enqueues_every_tick_once(
    passes: list[tuple[int, float]],
) -> None:
    # given three workers on one store and an every-7-seconds schedule (ticks off the pass times)
    from sidequest.stores.memory import MemoryStore

    store = MemoryStore()
    schedule = Schedule("often", "*/7 * * * * *", Report.definition.name, args=("x",))
    workers = [scheduler(store, schedule) for _ in range(3)]
    workers[0].sync(T0)
    moment = T0

    # when they pass in any order, never more than 59 s apart (someone is always up)
    for index, gap in passes:
        moment += gap
        workers[index].step(moment)

    # then every tick up to the last pass was enqueued exactly once
    expected = list(schedule.ticks(T0, moment))
    assert [job["periodic"]["tick"] for job in queued(store)] == expected  # type: ignore[index]


def test_with_pass_tick_a_function_job_gets_its_tick_as_the_last_argument(store: Store) -> None:
    from sidequest import job

    @job(name="tests.periodic.hourly_report", queue="reports")
    def hourly_report(kind: str, tick: float) -> None: ...

    schedule = Schedule("hourly", "@hourly", "tests.periodic.hourly_report", args=("sales",), pass_tick=True)
    worker = scheduler(store, schedule)
    worker.sync(T0)

    worker.step(T0 + 3600)

    [enqueued] = queued(store)
    assert enqueued["args"] == ["sales", T0 + 3600]
