"""A paused queue seen by a real `sidequest worker` process: its jobs wait, and run once resumed."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from sidequest import api, enqueue
from sidequest.stores import Store
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


def test_a_paused_queues_jobs_wait_for_a_running_worker_and_run_after_resume(
    url: str, url_store: Store, tmp_path: Path
) -> None:
    mailers = api.Queue("mailers", url_store)
    mailers.pause()
    for n in range(3):
        enqueue("tests.record", [f"mail-{n}"], queue="mailers")
    enqueue("tests.record", ["first"], queue="default")
    worker = Worker(url, tmp_path, "-q", "mailers", "-q", "default")
    try:
        # the worker fetches from both queues; once it has run a later job, it has passed mailers by
        wait_for(lambda: "first" in ledger(tmp_path), what="the default queue's job to run")
        enqueue("tests.record", ["second"], queue="default")
        wait_for(lambda: "second" in ledger(tmp_path), what="a second default job to run")

        assert [line for line in ledger(tmp_path) if line.startswith("mail")] == []
        assert mailers.size() == 3

        mailers.resume()

        wait_for(
            lambda: (
                sorted(line for line in ledger(tmp_path) if line.startswith("mail"))
                == ["mail-0", "mail-1", "mail-2"]
            ),
            what="the resumed queue's jobs to run",
        )
        assert mailers.size() == 0
    finally:
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output()


def test_a_burst_worker_leaves_a_paused_queues_jobs_and_exits(
    url: str, url_store: Store, tmp_path: Path
) -> None:
    api.Queue("mailers", url_store).pause()
    enqueue("tests.record", ["mail"], queue="mailers")
    enqueue("tests.record", ["other"])

    worker = Worker(url, tmp_path, "-q", "mailers", "-q", "default", "--burst")

    assert worker.wait() == 0, worker.output()
    assert ledger(tmp_path) == ["other"]
    assert api.Queue("mailers", url_store).size() == 1
