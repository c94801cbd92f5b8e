"""Redis going away: one clear line at start, reconnection while running, no job lost."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.config import get_config
from sidequest.errors import StoreUnavailable
from sidequest.stores import open_store
from tests.support.redis_server import RedisServer
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


class ClosingListener:
    """A port that accepts connections and closes them at once (no Redis there), counting them, so a
    test can wait until a client has tried a given number of times."""

    def __init__(self, port: int) -> None:
        self._socket = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()
        self._thread.join(5)


def test_unreachable_at_start_logs_one_line_then_starts_when_redis_appears(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path
) -> None:
    # given no Redis on the port yet (something that hangs up instead), and how many connections
    # one attempt to reach it makes (redis-py's own retries included)
    server = redis_server_factory(start=False)
    listener = ClosingListener(server.port)
    probe = open_store(server.url)
    with contextlib.suppress(StoreUnavailable):
        probe.ping()
    probe.close()
    per_attempt, listener.connections = listener.connections, 0
    worker = Worker(server.url, tmp_path)
    try:
        wait_for(lambda: "cannot reach the store" in worker.output(), what="the unreachable line")
        # when the worker has tried three times
        wait_for(lambda: listener.connections >= 3 * per_attempt, what="three attempts to connect")
        listener.close()
        # then it said so once
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
        listener.close()
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
