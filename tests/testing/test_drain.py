"""Running fake-mode jobs: drain, perform_one, drain_all, the loop bound, the clock and retry draining."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sidequest import get_config, job, testing
from sidequest.errors import EmptyQueueError, UnknownJobError
from sidequest.testing import DrainLoopError, clock

MOMENT = 1_800_000_000.0  # 2027-01-15T08:00:00Z

log: list[str] = []


@job
def step(name: str) -> str:
    log.append(name)
    return name.upper()


@job
def countdown(n: int) -> None:
    log.append(f"countdown {n}")
    if n > 0:
        countdown.perform_async(n - 1)


@job
def parent() -> None:
    log.append("parent")
    child.perform_async()


@job
def child() -> None:
    log.append("child")
    grandchild.perform_in(60)


@job
def grandchild() -> None:
    log.append("grandchild")


@job
def forever() -> None:
    forever.perform_async()


@job
def failing(label: str) -> None:
    log.append(label)
    raise ValueError(f"{label} failed")


@job(retry=2)
def flaky(label: str) -> None:
    log.append(label)
    raise ConnectionError("smtp down")


@job(retry=False)
def no_retry() -> None:
    raise ConnectionError("gone")


@job(retry=1, dead=False)
def no_dead() -> None:
    raise ConnectionError("gone")


exhausted: list[tuple[list[Any], str]] = []


def _note_exhausted(payload: dict[str, Any], exc: BaseException) -> None:
    exhausted.append((payload["args"], type(exc).__name__))


@job(retry=1, retries_exhausted=_note_exhausted)
def hooked(n: int) -> None:
    raise TimeoutError("slow")


@job
async def fetch_feed(url: str) -> str:
    log.append(url)
    return url


@pytest.fixture(autouse=True)
def _fake_mode() -> None:
    log.clear()
    testing.fake()


def test_drain_runs_jobs_oldest_first_and_empties_the_list() -> None:
    for name in ("a", "b", "c"):
        step.perform_async(name)

    assert step.drain() == 3

    assert log == ["a", "b", "c"]
    assert step.jobs == []


def test_drain_also_runs_jobs_of_the_same_kind_enqueued_while_draining() -> None:
    countdown.perform_async(3)
    assert countdown.drain() == 4
    assert log == ["countdown 3", "countdown 2", "countdown 1", "countdown 0"]


def test_drain_of_one_job_leaves_the_others_alone() -> None:
    parent.perform_async()
    parent.drain()
    assert log == ["parent"]
    assert len(child.jobs) == 1


def test_drain_runs_scheduled_jobs_too_when_the_clock_is_not_frozen() -> None:
    step.perform_in(3600, "later")
    step.perform_async("now")
    assert step.drain() == 2
    assert log == ["now", "later"]  # in the order a worker would reach them


def test_a_job_that_raises_stops_the_drain_and_is_dropped_like_sidekiq() -> None:
    failing.perform_async("first")
    failing.perform_async("second")

    with pytest.raises(ValueError, match="first failed"):
        failing.drain()

    assert [p["args"] for p in failing.jobs] == [["second"]]


def test_perform_one_runs_the_oldest_job_and_returns_its_result() -> None:
    step.perform_async("a")
    step.perform_async("b")
    assert step.perform_one() == "A"
    assert [p["args"] for p in step.jobs] == [["b"]]


def test_perform_one_with_nothing_waiting_raises_empty_queue_error() -> None:
    with pytest.raises(EmptyQueueError, match="no tests.testing.test_drain.step job is waiting"):
        step.perform_one()


def test_drain_all_follows_chains_across_jobs() -> None:
    parent.perform_async()
    step.perform_async("x")

    assert testing.drain_all() == 4

    assert log == ["parent", "x", "child", "grandchild"]
    assert testing.all_jobs() == []


def test_drain_all_stops_a_job_that_enqueues_itself_with_a_clear_error() -> None:
    forever.perform_async()
    with pytest.raises(DrainLoopError) as caught:
        testing.drain_all(max_rounds=5)
    message = str(caught.value)
    assert "drained 5 rounds (5 jobs)" in message
    assert "tests.testing.test_drain.forever (1)" in message
    assert "enqueues itself" in message


def test_drain_of_one_job_is_bounded_too() -> None:
    forever.perform_async()
    with pytest.raises(DrainLoopError):
        forever.drain()


def test_a_job_nobody_registered_fails_the_drain_with_unknown_job_error() -> None:
    from sidequest import enqueue

    enqueue("HardJob", [1])
    assert [p["class"] for p in testing.jobs_for("HardJob")] == ["HardJob"]
    with pytest.raises(UnknownJobError, match="HardJob"):
        testing.drain_all()


def test_server_middleware_runs_while_draining() -> None:
    seen: list[str] = []

    class Audit:
        def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
            seen.append(payload["args"][0])
            return call_next()

    get_config().server_middleware.add(Audit)
    step.perform_async("audited")
    step.drain()
    assert seen == ["audited"]


def test_clear_and_clear_all_forget_jobs() -> None:
    step.perform_async("a")
    parent.perform_async()
    testing.clear(step)
    assert step.jobs == [] and len(parent.jobs) == 1
    testing.clear_all()
    assert testing.all_jobs() == []


# ---- with the test clock --------------------------------------------------------------------------
def test_a_frozen_clock_holds_back_jobs_until_they_are_due() -> None:
    clock.freeze()
    step.perform_async("now")
    step.perform_in(60, "in a minute")
    step.perform_in(3600, "in an hour")

    assert step.drain() == 1
    clock.advance(60)
    assert step.drain() == 1
    clock.advance(3539)
    assert step.drain() == 0
    clock.advance(1)
    assert step.drain() == 1
    assert log == ["now", "in a minute", "in an hour"]


def test_drain_until_runs_what_is_due_by_then() -> None:
    step.perform_in(60, "soon")
    step.perform_in(3600, "later")
    assert testing.drain(step, until=clock.now() + 120) == 1
    assert log == ["soon"]


def test_drain_until_takes_an_aware_datetime() -> None:
    clock.freeze(MOMENT)
    step.perform_in(60, "soon")
    assert testing.drain(step, until=datetime(2027, 1, 15, 8, 0, 59, tzinfo=UTC)) == 0
    assert testing.drain(step, until=datetime(2027, 1, 15, 8, 1, tzinfo=UTC)) == 1


def test_jobs_enqueued_to_run_now_stay_due_after_travelling_back_in_time() -> None:
    step.perform_async("now")
    clock.freeze(1_700_000_000)  # 2023: long before the job's enqueued_at
    assert step.drain() == 1


def test_perform_one_says_when_the_next_job_is_due() -> None:
    clock.freeze(1_800_000_000)
    step.perform_in(90, "later")
    with pytest.raises(EmptyQueueError, match=r"1 scheduled later, the first at 2027-01-15T08:01:30.000Z"):
        step.perform_one()
    assert testing.next_at(step) == 1_800_000_090


def test_drain_all_with_a_frozen_clock_leaves_the_scheduled_grandchild() -> None:
    clock.freeze()
    parent.perform_async()
    assert testing.drain_all() == 2
    assert [p["class"] for p in testing.all_jobs()] == [grandchild.name]
    clock.advance(60)
    assert testing.drain_all() == 1


# ---- retries with backoff -------------------------------------------------------------------------
def test_retry_draining_reschedules_failures_with_sidekiqs_fields_and_backoff() -> None:
    clock.freeze(1_800_000_000)
    flaky.perform_async("try")

    assert testing.drain(flaky, retry=True) == 1

    [retry] = flaky.jobs
    assert retry["retry_count"] == 0
    assert retry["error_class"] == "ConnectionError"
    assert retry["error_message"] == "smtp down"
    assert retry["failed_at"] == 1_800_000_000
    assert 1_800_000_000 + 15 <= retry["at"] <= 1_800_000_000 + 15 + 9  # 0**4 + 15 + jitter
    assert testing.drain(flaky, retry=True) == 0  # not due yet


def test_retry_draining_walks_through_the_retries_to_the_dead_jobs() -> None:
    clock.freeze()
    flaky.perform_async("try")

    runs = testing.drain(flaky, retry=True)
    while flaky.jobs:
        due = testing.next_at(flaky)
        assert due is not None
        clock.travel(due)
        runs += testing.drain(flaky, retry=True)

    assert runs == 3  # the first run and retry=2 retries
    [dead] = testing.dead_jobs()
    assert dead["retry_count"] == 2
    assert dead["class"] == flaky.name
    assert "retried_at" in dead


def test_retry_false_drops_the_job_and_dead_false_skips_the_dead_list() -> None:
    no_retry.perform_async()
    no_dead.perform_async()
    testing.drain_all(retry=True)
    clock.advance(3600)
    testing.drain_all(retry=True)
    assert testing.all_jobs() == []
    assert testing.dead_jobs() == []


def test_retry_draining_without_a_frozen_clock_does_not_run_the_retry_at_once() -> None:
    flaky.perform_async("try")
    assert testing.drain(flaky, retry=True) == 1
    assert len(flaky.jobs) == 1


def test_retry_draining_runs_the_retries_exhausted_hook_once() -> None:
    exhausted.clear()
    clock.freeze()
    hooked.perform_async(7)
    testing.drain(hooked, retry=True)
    clock.advance(3600)
    testing.drain(hooked, retry=True)
    assert exhausted == [([7], "TimeoutError")]
    assert [p["args"] for p in testing.dead_jobs()] == [[7]]


def test_async_jobs_run_when_drained_and_inline() -> None:
    fetch_feed.perform_async("https://example.com/a.xml")
    assert fetch_feed.perform_one() == "https://example.com/a.xml"
    with testing.inline():
        fetch_feed.perform_async("https://example.com/b.xml")
    assert log == ["https://example.com/a.xml", "https://example.com/b.xml"]
