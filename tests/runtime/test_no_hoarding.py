"""A worker never holds a fetched job that waits while all its threads are busy (no prefetch hoarding).

Two idle one-thread workers, a long job and a short one: the short one must start in the other worker
while the long one runs, as with Sidekiq (one job fetched per idle thread).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import sidequest
from sidequest import enqueue_bulk, job
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store
from sidequest.stores.memory import MemoryStore
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


def enqueue_long_then_short() -> None:
    enqueue_bulk("tests.timed", [[3, "long"], [0.1, "short"]])


def events(tmp_path: Path) -> dict[str, tuple[int, str]]:
    """'start long' -> (position in the ledger, pid) for every ledger line."""
    found: dict[str, tuple[int, str]] = {}
    for position, line in enumerate(ledger(tmp_path)):
        what, tag, pid = line.split()
        found[f"{what} {tag}"] = (position, pid)
    return found


def assert_short_ran_beside_long(tmp_path: Path) -> None:
    # the short job's end is enough to judge: a hoarded one would only start once the long one ends
    wait_for(lambda: "end short" in events(tmp_path), what="the short job to finish")
    seen = events(tmp_path)
    assert seen["start short"][1] != seen["start long"][1], ledger(tmp_path)
    assert "end long" not in seen or seen["start short"][0] < seen["end long"][0], ledger(tmp_path)


def test_a_short_job_starts_in_an_idle_worker_while_another_runs_a_long_one(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given two idle one-thread workers
    first, second = workers("-c", "1", "-t", "0.5"), workers("-c", "1", "-t", "0.5")
    wait_for(lambda: len(store.processes()) == 2, what="both workers up")
    # when a long and a short job are enqueued together
    enqueue_long_then_short()
    # then the short one runs in the other worker, before the long one ends
    assert_short_ran_beside_long(tmp_path)
    for worker in (first, second):
        worker.signal(signal.SIGTERM)
    for worker in (first, second):
        assert worker.wait() == 0, worker.output()


def test_jobs_queued_before_the_workers_start_are_not_taken_by_the_first_one(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a long and a short job already queued
    enqueue_long_then_short()
    # when two one-thread workers start, one after the other
    first = workers("-c", "1", "-t", "0.5")
    wait_for(lambda: "start long" in " ".join(ledger(tmp_path)), what="the first worker's job")
    second = workers("-c", "1", "-t", "0.5")
    # then the short one runs in the second worker, before the long one ends
    assert_short_ran_beside_long(tmp_path)
    for worker in (first, second):
        worker.signal(signal.SIGTERM)
    for worker in (first, second):
        assert worker.wait() == 0, worker.output()


@pytest.mark.parametrize("prefetch", [0, 3])
def test_a_busy_worker_holds_only_its_prefetch_beyond_the_running_jobs(prefetch: int) -> None:
    # given a two-thread worker on the memory store, both threads held by blocking jobs
    memory = MemoryStore()
    config = sidequest.get_config()
    config.use_store(memory)
    config.update(concurrency=2, prefetch=prefetch, heartbeat_interval=0.2, process_ttl=2)
    release = threading.Event()
    started: list[int] = []

    @job(name="tests.blocking_for_prefetch")
    def blocking(n: int) -> None:
        started.append(n)
        release.wait(10)

    blocking.perform_bulk([(n,) for n in range(10)])
    launcher = Launcher(config)
    thread = threading.Thread(target=launcher.run)
    thread.start()
    try:
        wait_for(lambda: len(started) == 2, what="two jobs running")
        wait_for(lambda: memory.queue_size("default") == 8 - prefetch, what="the fetch after the first")
        # then it holds the running jobs plus prefetch, and the rest stay in the queue for other workers
        assert len(memory.in_progress(launcher.identity)) == 2 + prefetch
        assert len(started) == 2
    finally:
        release.set()
        launcher.request_stop()
        thread.join(10)
    assert memory.in_progress(launcher.identity) == []
