"""The testing helpers for periodic, unique and expiring jobs, used the way an app's tests would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import sidequest
from sidequest import testing
from sidequest.middleware import expiring, unique
from sidequest.testing import periodic as periodic_testing
from sidequest.testing.clock import clock
from tests.periodic import feature_jobs
from tests.periodic.feature_jobs import refresh_quote, sync_account

JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.fixture(autouse=True)
def fake_mode() -> Iterator[None]:
    unique.install()
    expiring.install()
    periodic_testing.reset()
    feature_jobs.RAN.clear()
    with testing.fake(), clock.freeze(datetime(2026, 11, 30, 9, 2, tzinfo=JAKARTA)):
        yield
    testing.clear_all()
    periodic_testing.reset()


def test_tick_enqueues_the_ticks_that_fell_due_and_drain_runs_them() -> None:
    sidequest.periodic("*/5 * * * *", refresh_quote, name="quotes", args=["ACME"], tz="Asia/Jakarta")

    enqueued = periodic_testing.tick(timedelta(minutes=10))

    assert [
        datetime.fromtimestamp(job["periodic"]["tick"], JAKARTA).strftime("%H:%M") for job in enqueued
    ] == [
        "09:05",
        "09:10",
    ]
    assert len(refresh_quote.jobs) == 2
    assert testing.drain(refresh_quote) == 2
    assert feature_jobs.RAN == ["quote ACME", "quote ACME"]


def test_assert_next_run_passes_on_the_right_time_and_names_both_times_otherwise() -> None:
    sidequest.periodic("0 3 * * *", sync_account, name="nightly", args=[1], tz="Asia/Jakarta")

    periodic_testing.assert_next_run("nightly", datetime(2026, 12, 1, 3, 0, tzinfo=JAKARTA))
    assert periodic_testing.next_run("nightly") == datetime(2026, 12, 1, 3, 0, tzinfo=JAKARTA)
    with pytest.raises(
        AssertionError, match=r"next runs at 2026-12-01T03:00:00\+07:00, expected 2026-12-01T04:00:00\+07:00"
    ):
        periodic_testing.assert_next_run("nightly", datetime(2026, 11, 30, 21, 0, tzinfo=UTC))


def test_assert_dropped_sees_a_duplicate_dropped_in_fake_mode() -> None:
    assert sync_account.perform_async(7) is not None
    assert sync_account.perform_async(7) is None

    periodic_testing.assert_dropped(sync_account, 7)
    with pytest.raises(
        AssertionError, match=r"expected a duplicate of tests.unique.sync_account with args \[8\]"
    ):
        periodic_testing.assert_dropped(sync_account, 8)
    # draining runs the job and frees its lock, as a worker would
    testing.drain(sync_account)
    assert sync_account.perform_async(7) is not None


def test_expired_lists_jobs_the_worker_would_skip() -> None:
    refresh_quote.perform_async("OLD")
    clock.advance(6)

    testing.drain(refresh_quote)

    assert feature_jobs.RAN == []
    assert [job["args"] for job in periodic_testing.expired(refresh_quote)] == [["OLD"]]


def test_clear_all_forgets_the_locks_of_jobs_that_were_never_run() -> None:
    # given a unique job enqueued in fake mode and never drained (the end of one test)
    assert sync_account.perform_async(9) is not None

    # when the next test starts from empty lists
    testing.clear_all()

    # then the same enqueue is not dropped as a duplicate of a job that no longer exists
    assert sync_account.perform_async(9) is not None
    assert periodic_testing.dropped(sync_account) == []
    assert testing.assert_dropped is periodic_testing.assert_dropped
