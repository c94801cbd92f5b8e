"""Redis going away: one clear line at start, reconnection while running, no job lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.config import get_config
from sidequest.stores import open_store
from tests.support.redis_server import RedisServer
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


def test_unreachable_at_start_logs_one_line_then_starts_when_redis_appears(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path
) -> None:
    # given no server on the port yet
    server = redis_server_factory(start=False)
    worker = Worker(server.url, tmp_path)
    try:
        wait_for(lambda: "cannot reach the store" in worker.output(), what="the unreachable line")
        time.sleep(1.5)  # a few retries happen meanwhile; they must not repeat the line
        assert worker.output().count("cannot reach the store") == 1
        assert "redis://127.0.0.1" in worker.output() and "Traceback" not in worker.output()
        # when the server comes up, the worker starts and runs jobs
        server.start()
        store = open_store(server.url)
        get_config().use_store(store)
        enqueue("tests.record", ["after-start"])
        wait_for(lambda: ledger(tmp_path) == ["after-start"], what="the job to run")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
        store.close()
    finally:
        if worker.process.poll() is None:
            worker.process.kill()


@pytest.mark.parametrize("fault", ["restart", "pause"])
def test_worker_survives_redis_going_away_and_loses_nothing(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path, fault: str
) -> None:
    server = redis_server_factory(persistent=True)
    store = open_store(server.url)
    get_config().use_store(store)
    worker = Worker(server.url, tmp_path)
    try:
        for n in range(20):
            enqueue("tests.record", [f"before-{n}"])
        wait_for(lambda: len(ledger(tmp_path)) == 20, what="first jobs")
        # when Redis goes away for a few seconds while the worker is idle-fetching
        if fault == "restart":
            server.stop()
            time.sleep(2)
            server.start()
        else:
            server.pause()
            time.sleep(3)
            server.resume()
        # then the worker reconnects by itself and runs new jobs
        for n in range(20):
            enqueue("tests.record", [f"after-{n}"])
        wait_for(lambda: len(ledger(tmp_path)) == 40, what="jobs after the outage", timeout=30)
        assert sorted(ledger(tmp_path)) == sorted(
            [f"before-{n}" for n in range(20)] + [f"after-{n}" for n in range(20)]
        )
        assert worker.process.poll() is None, worker.output()
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output()
        assert store.counters().processed == 40
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
        store.close()
