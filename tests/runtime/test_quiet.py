"""After "quieting" (TERM, INT or TSTP) a worker starts no job; jobs it fetched and did not start go back.

Real `sidequest worker` subprocesses with one thread (-c 1) and a slow job running, on Redis and SQLite.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.stores import Store
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


def test_term_starts_no_waiting_job_and_pushes_it_back(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a one-thread worker running a slow job, with more jobs queued behind it
    enqueue("tests.sleepy", [2, "slow"])
    for n in range(3):
        enqueue("tests.record", [f"waiting-{n}"])
    worker = workers("-c", "1", "-t", "30")
    wait_for(lambda: "start slow" in ledger(tmp_path), what="slow job start")
    # when it is told to stop
    worker.signal(signal.SIGTERM)
    # then the slow job finishes, no other job starts in this process, and the others are queued again
    assert worker.wait() == 0, worker.output()
    assert ledger(tmp_path) == ["start slow", "slow"], worker.output()
    assert store.queue_size("default") == 3
    assert store.processes() == []


def test_tstp_hands_fetched_jobs_back_at_once_while_the_running_job_goes_on(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a one-thread worker running a slow job, with more jobs queued behind it
    enqueue("tests.sleepy", [30, "slow"])
    for n in range(3):
        enqueue("tests.record", [f"waiting-{n}"])
    worker = workers("-c", "1", "-t", "1")
    wait_for(lambda: "start slow" in ledger(tmp_path), what="slow job start")
    # when it is quieted
    worker.signal(signal.SIGTSTP)
    # then every job it does not run is back in its queue while the slow job still runs
    wait_for(lambda: store.queue_size("default") == 3, what="waiting jobs back in the queue")
    assert ledger(tmp_path) == ["start slow"]
    wait_for(lambda: "quieting" in worker.output(), what="quiet line")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    assert ledger(tmp_path) == ["start slow"], worker.output()
