"""Metrics as a real worker records them: per class runs, failures and time, through its heartbeat."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidequest import api, enqueue
from sidequest.stores import Store
from tests.support.worker import Worker

pytestmark = pytest.mark.slow


def test_a_worker_counts_runs_failures_and_time_per_class(url: str, url_store: Store, tmp_path: Path) -> None:
    for n in range(4):
        enqueue("tests.record", [f"r{n}"])
    enqueue("tests.sleepy", [0.25, "slow"])
    enqueue("tests.not_registered", [], retry=False)

    worker = Worker(url, tmp_path, "--burst")
    assert worker.wait() == 0, worker.output()

    top = {m.job_class: m for m in api.Metrics(url_store).top_jobs(10)}
    assert (top["tests.record"].executions, top["tests.record"].failures) == (4, 0)
    assert (top["tests.not_registered"].executions, top["tests.not_registered"].failures) == (1, 1)
    assert top["tests.sleepy"].total_ms >= 250  # a sleep never ends early
    assert top["tests.not_registered"].total_ms == 0  # only successful runs count time, as in Sidekiq
    assert sum(api.Metrics(url_store).for_job("tests.record", 10).histogram) == 4
    assert sum(api.Metrics(url_store).for_job("tests.not_registered", 10).histogram) == 0
