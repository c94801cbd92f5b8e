"""Expiring jobs: a job not started by its deadline is skipped, counted and logged; scheduled jobs
count from their due time."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest import payload as wire
from sidequest.config import get_config
from sidequest.middleware import expiring
from sidequest.runtime.execute import run_job
from sidequest.stores import Store
from sidequest.testing.clock import clock
from tests.periodic import feature_jobs
from tests.periodic.feature_jobs import refresh_quote
from tests.periodic.test_unique import burst_worker

T0 = 1_796_000_000.0


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    expiring.install()
    feature_jobs.RAN.clear()
    with clock.freeze(T0):
        yield


def run_due(store: Store) -> None:
    store.promote_due("schedule", clock.now())
    for work in store.fetch("test:1:abc", ["default"], 10):
        run_job(wire.loads(work.payload), get_config())
        store.ack("test:1:abc", [work])


def test_a_job_started_before_its_deadline_runs(store: Store) -> None:
    refresh_quote.perform_async("ACME")
    clock.advance(4)

    run_due(store)

    assert feature_jobs.RAN == ["quote ACME"]


def test_a_job_not_started_by_its_deadline_is_skipped_counted_and_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    before = expiring.expired_count()
    refresh_quote.perform_async("ACME")
    clock.advance(6)

    with caplog.at_level(logging.WARNING, logger="sidequest"):
        run_due(store)

    assert feature_jobs.RAN == []
    assert expiring.expired_count() == before + 1
    assert "expired: skipped tests.expiring.quote" in caplog.text
    assert store.queue_size("default") == 0


def test_a_scheduled_job_counts_from_its_due_time(store: Store) -> None:
    refresh_quote.perform_in(600, "LATE")
    refresh_quote.perform_in(600, "LATER")
    [(_, raw)] = store.set_range("schedule", 0, 0)
    assert json.loads(raw)["expires_at"] == T0 + 605

    clock.advance(603)
    store.promote_due("schedule", clock.now())
    [first] = store.fetch("test:1:abc", ["default"], 1)
    run_job(wire.loads(first.payload), get_config())
    clock.advance(3)  # the second is now 606 s old and 6 s past due
    run_due(store)

    assert len(feature_jobs.RAN) == 1


def test_expires_in_on_set_and_a_bad_value(store: Store) -> None:
    from sidequest.errors import ConfigError

    refresh_quote.set(expires_in=100).perform_async("SLOW")
    clock.advance(50)
    run_due(store)

    assert feature_jobs.RAN == ["quote SLOW"]
    with pytest.raises(ConfigError, match="expires_in of tests.expiring.quote is -1; use a positive number"):
        refresh_quote.set(expires_in=-1).perform_async("X")


def test_a_payload_from_another_client_with_only_expires_in_counts_from_created_at(store: Store) -> None:
    payload = wire.build("tests.expiring.quote", ["RUBY"], {"expires_in": 5}, T0)
    store.push([("default", wire.dumps(payload))])
    clock.advance(6)

    run_due(store)

    assert feature_jobs.RAN == []


def test_a_worker_skips_an_expired_job_runs_a_fresh_one_and_counts_the_skip_in_the_store(
    shared_store: Store, tmp_path: Path
) -> None:
    # given a job enqueued 100 s ago with expires_in=5, and one enqueued now
    import time

    with clock.freeze(time.time() - 100):
        refresh_quote.perform_async("STALE")
    clock.unfreeze()
    refresh_quote.perform_async("FRESH")

    # when a worker runs the queue
    ran = burst_worker(shared_store, tmp_path)

    # then only the fresh one ran, and the store counts one expired job
    assert ran == ["quote FRESH"]
    assert shared_store.stat("expired") == 1
