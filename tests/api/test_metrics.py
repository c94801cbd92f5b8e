"""Per-class metrics for the last hour, from counts the heartbeat adds."""

from __future__ import annotations

import pytest

from sidequest import api
from sidequest.errors import ConfigError
from sidequest.stores import Store
from sidequest.stores.base import JobCounts, minute_of
from tests.api.conftest import NOW, beat


def test_top_jobs_sum_the_period_per_class_with_every_minute_listed(store: Store) -> None:
    store.beat(beat("box:1:aaa", beat=NOW - 120, metrics={"Charge": JobCounts(4, 1, 300.0)}))
    store.beat(
        beat("box:1:aaa", beat=NOW, metrics={"Charge": JobCounts(2, 0, 100.0), "Mail": JobCounts(5, 0, 50.0)})
    )
    store.add_metrics({"Charge": JobCounts(9, 9, 0.0)}, NOW - 7200)  # outside the hour

    top = api.Metrics(store).top_jobs(60, until=NOW)

    assert [(m.job_class, m.executions, m.failures, m.total_ms) for m in top] == [
        ("Charge", 6, 1, 400.0),
        ("Mail", 5, 0, 50.0),
    ]
    charge = top[0]
    assert charge.average_ms == 80.0  # 400 ms over 5 successful runs
    assert len(charge.minutes) == 60
    assert charge.minutes[-1].minute.timestamp() == minute_of(NOW)
    assert [m.executions for m in charge.minutes if m.executions] == [4, 2]


def test_one_class_and_a_class_that_did_not_run(store: Store) -> None:
    store.add_metrics({"Charge": JobCounts(2, 0, 10.0)}, NOW)

    metrics = api.Metrics(store)

    assert metrics.for_job("Charge", until=NOW).executions == 2
    idle = metrics.for_job("Never", 30, until=NOW)
    assert (idle.executions, idle.average_ms, len(idle.minutes)) == (0, 0.0, 30)


def test_metrics_refuse_a_period_longer_than_they_are_kept(store: Store) -> None:
    with pytest.raises(ConfigError, match="1 to 480 minutes, got 600"):
        api.Metrics(store).top_jobs(600)


def test_one_class_comes_with_its_run_time_histogram(store: Store) -> None:
    fast, slow = [0] * 26, [0] * 26
    fast[0], slow[12] = 5, 1  # under 20 ms; 1.7 to 2.5 s
    store.add_metrics({"Charge": JobCounts(5, 0, 50.0, fast)}, NOW - 60)
    store.add_metrics({"Charge": JobCounts(1, 0, 2000.0, slow)}, NOW)

    charge = api.Metrics(store).for_job("Charge", until=NOW)

    assert charge.histogram[0] == 5 and charge.histogram[12] == 1 and sum(charge.histogram) == 6
    assert api.metrics.BUCKET_BOUNDS_MS[11:13] == (1700, 2500)  # bucket 12 is [1700, 2500)
    assert api.Metrics(store).top_jobs(until=NOW)[0].histogram == []  # only for_job reads histograms
