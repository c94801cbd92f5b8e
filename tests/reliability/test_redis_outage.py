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
from tests.reliability.harness import Ledger, WorkerProcess, outage_scenario, verdict, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import CuttingProxy

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
    # given two workers taking a steady stream of 3,000 jobs from a persistent redis-server
    server = redis_server_factory(persistent=True)
    # when it is stopped and started again, and later frozen (SIGSTOP) longer than the 5 s socket timeout
    run = outage_scenario(server, tmp_path, jobs=3000, per_second=300)
    # then every job ran; only pushes whose reply was lost (and were retried) ran twice
    run.verdict.assert_exact()
    assert run.failed_pushes, "the feeder should have seen the outage"
    assert all("is unavailable" in error and "\n" not in error for error in run.push_errors)
    for output in run.outputs:
        assert "reachable again" in output and "Traceback" not in output
    assert run.exit_codes == [0, 0]
    report(
        f"{run.verdict.enqueued} jobs, restart + 6 s pause: {run.failed_pushes} failed pushes retried by the "
        f"feeder, {run.verdict.extra_runs} ran twice, 0 lost, {run.seconds:.1f}s"
    )


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


def test_jobs_taken_by_a_fetch_whose_reply_was_lost_are_pushed_back_at_once(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path
) -> None:
    server = redis_server_factory()
    proxy = CuttingProxy(server.port)
    store = open_store(server.url)
    get_config().use_store(store)
    ledger = Ledger(tmp_path / "ledger.txt")
    worker = WorkerProcess(proxy.url, tmp_path, ledger, "-c", "2", heartbeat=1, ttl=15)
    try:
        identity = worker.identity(store)
        enqueue("reliability.mark", ["before"])
        wait_for(lambda: ledger.holds(["before"]), what="a job through the proxy")
        # given an idle worker blocked in its fetch, when the connection drops after Redis ran the
        # fetch but before its reply arrived
        proxy.cut_replies.set()
        enqueue("reliability.mark", ["lost"])
        wait_for(lambda: any("lost" in w.payload for w in store.in_progress(identity)), what="the fetch")
        wait_for(lambda: any(b"lost" in reply for reply in proxy.dropped), what="the fetch's reply dropped")
        proxy.cut_replies.clear()
        # then the live worker pushes the job it never received back and runs it, once
        wait_for(lambda: ledger.holds(["lost"]), 15, "the job the lost reply carried")
        # once no copy is left queued or held, every run of it is in the ledger
        wait_for(
            lambda: store.in_progress(identity) == [] and store.queue_size("default") == 0,
            what="no copy of the job left queued or in progress",
        )
        assert ledger.tags()["lost"] == 1
        assert worker.terminate() == 0
        assert "reply was lost" in worker.output()
    finally:
        worker.cleanup()
        proxy.close()
        store.close()
