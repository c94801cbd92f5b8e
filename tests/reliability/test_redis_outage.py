"""Redis stopped, restarted and paused under load: clear errors for clients, no job lost once it is back."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import sidequest
from sidequest import enqueue
from sidequest.config import get_config
from sidequest.stores import open_store
from tests.reliability.harness import Feeder, Ledger, WorkerProcess, verdict, wait_for
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow


def test_enqueue_while_redis_is_down_raises_store_unavailable_with_a_clear_message(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory(persistent=True)
    get_config().use_store(open_store(server.url))
    enqueue("reliability.mark", ["before"])
    server.stop()
    with pytest.raises(sidequest.StoreUnavailable) as raised:
        enqueue("reliability.mark", ["during"])
    message = str(raised.value)
    assert f"Redis at redis://127.0.0.1:{server.port}/0 is unavailable" in message and "\n" not in message
    server.start()
    enqueue("reliability.mark", ["after"])
    assert get_config().store.queue_size("default") == 2  # the one before survived the restart


def test_workers_ride_out_a_restart_and_a_pause_under_load_and_lose_nothing(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path, report: Callable[[str], None]
) -> None:
    server = redis_server_factory(persistent=True)
    store = open_store(server.url)
    ledger = Ledger(tmp_path / "ledger.txt")
    # heartbeat records outlive both outages, so no worker is taken for dead and nothing runs twice
    workers = [WorkerProcess(server.url, tmp_path, ledger, "-c", "5", heartbeat=1, ttl=15) for _ in range(2)]
    feeder = Feeder(server.url, 3000, 300)
    try:
        # given two workers taking a steady stream of jobs
        for worker in workers:
            worker.identity(store)
        feeder.start()
        wait_for(lambda: len(ledger.entries()) >= 300, what="the first jobs")
        # when redis-server is stopped and started again (its append-only file keeps the data)
        server.stop()
        time.sleep(1.5)
        server.start()
        wait_for(lambda: feeder.pushed >= 1800, what="the feeder to go on", timeout=60)
        # and later frozen (SIGSTOP) for longer than the client's 5 s socket timeout
        server.pause()
        time.sleep(6)
        server.resume()
        feeder.done.wait(60)
        # then every job runs, each worker reconnected by itself, and clients saw StoreUnavailable
        wait_for(lambda: ledger.holds(feeder.tags), 60, "every job to finish after the outages")
        result = verdict(feeder.tags, ledger, Counter(feeder.uncertain))
        result.assert_exact()
        assert feeder.errors, "the feeder should have seen the outage"
        assert all("is unavailable" in error for error in feeder.errors)
        for worker in workers:
            assert worker.alive(), worker.output()
            assert "store is reachable again" in worker.output() or "reachable again" in worker.output()
            assert "Traceback" not in worker.output()
        assert [worker.terminate() for worker in workers] == [0, 0]
        assert store.queue_size("default") == 0
        report(
            f"{result.enqueued} jobs, restart + 6 s pause: {len(feeder.errors)} failed pushes retried by the "
            f"feeder, {result.extra_runs} ran twice, 0 lost"
        )
    finally:
        for worker in workers:
            worker.cleanup()
        store.close()


def test_a_fetch_cut_off_by_a_pause_leaves_no_job_stranded_in_a_live_worker(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path, report: Callable[[str], None]
) -> None:
    server = redis_server_factory(persistent=True)
    store = open_store(server.url)
    get_config().use_store(store)
    ledger = Ledger(tmp_path / "ledger.txt")
    worker = WorkerProcess(server.url, tmp_path, ledger, "-c", "5", heartbeat=1, ttl=15)
    try:
        # given a backlog, so the worker's fetches take jobs without blocking
        worker.identity(store)
        tags = [f"job-{n}" for n in range(3000)]
        sidequest.enqueue_bulk("reliability.mark", [[tag, 0.003] for tag in tags])
        wait_for(lambda: len(ledger.entries()) >= 200, what="the first jobs")
        # when redis-server freezes for longer than the client's socket timeout
        server.pause()
        time.sleep(6)
        server.resume()
        # then the worker, still running, finishes every job (none stuck in its in-progress list)
        wait_for(lambda: ledger.holds(tags), 60, "every job to finish while the worker runs")
        result = verdict(tags, ledger, Counter())
        result.assert_exact()
        assert worker.terminate() == 0
        report(f"{len(tags)} jobs, 6 s pause during backlog: 0 ran twice, 0 lost")
    finally:
        worker.cleanup()
        store.close()
