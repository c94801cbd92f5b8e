"""Graceful shutdown under load with jobs longer than the timeout: nothing lost, nothing finished twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.config import get_config
from sidequest.stores import open_store
from tests.reliability.harness import Feeder, Ledger, WorkerProcess, verdict, wait_for

pytestmark = pytest.mark.slow


def test_term_under_load_pushes_back_unfinished_jobs_and_runs_finished_ones_once(
    url: str, tmp_path: Path, report: Callable[[str], None]
) -> None:
    store = open_store(url)
    get_config().use_store(store)
    ledger = Ledger(tmp_path / "ledger.txt")
    first = WorkerProcess(url, tmp_path, ledger, "-c", "6", "-t", "1")
    second: WorkerProcess | None = None
    feeder = Feeder(url, 1500, 500)
    try:
        # given a worker running four 30 s jobs while a steady stream of short jobs arrives
        first.identity(store)
        long_tags = [f"long-{n}" for n in range(4)]
        for tag in long_tags:
            enqueue("reliability.long", [tag, 30.0])
        feeder.start()
        wait_for(lambda: len(ledger.starts()) == 4, what="the long jobs to start")
        wait_for(lambda: len(ledger.entries()) >= 100, what="short jobs to run")
        # when it gets TERM with a 1 s timeout in the middle of the stream
        assert first.terminate() == 0, first.output()
        finished_before = len(ledger.entries())
        # then the long jobs are back in the queue, and a second worker finishes everything
        feeder.done.wait(30)
        second = WorkerProcess(
            url, tmp_path, ledger, "-c", "6", "--burst", env={"SIDEQUEST_RELIABILITY_FAST": "1"}
        )
        assert second.process.wait(60) == 0, second.output()
        result = verdict([*feeder.tags, *long_tags], ledger, Counter())
        result.assert_exact()
        assert not result.duplicates
        starts = Counter(tag for tag, _ in ledger.starts())
        assert starts == Counter({tag: 2 for tag in long_tags})
        assert "pushing them back" in first.output()
        report(
            f"{result.enqueued} jobs; {finished_before} finished before TERM, 4 long jobs pushed back "
            f"at the 1 s deadline and run again; 0 ran twice, 0 lost"
        )
    finally:
        first.cleanup()
        if second is not None:
            second.cleanup()
        store.close()
