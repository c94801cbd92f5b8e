"""Security: a payload can only run registered jobs, and a Redis password never reaches a log or the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sidequest
import tests.reliability.jobs  # noqa: F401  (registers the reliability.* jobs in this process)
from sidequest.runtime.launcher import Launcher
from sidequest.stores import open_store
from tests.reliability.harness import Ledger, WorkerProcess, wait_for
from tests.support.redis_server import free_port, redis_server_binary

PASSWORD = "s3cret-Pw0rd"
IMPORTABLE = [
    "os.system",
    "subprocess.call",
    "subprocess.run",
    "builtins.eval",
    "builtins.exec",
    "posix.system",
]


def test_a_payload_naming_an_importable_callable_never_calls_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given payloads that name Python callables which would create a marker file if called
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    store = open_store("memory://")
    sidequest.get_config().use_store(store)
    ledger = Ledger(tmp_path / "ledger.txt")
    for name, value in ledger.env.items():
        monkeypatch.setenv(name, value)
    for name in IMPORTABLE:
        argument = code if name.startswith("builtins") else command
        if name == "subprocess.call" or name == "subprocess.run":
            store.push(
                [("default", json.dumps({"class": name, "args": [["touch", str(marker)]], "jid": name}))]
            )
        store.push([("default", json.dumps({"class": name, "args": [argument], "jid": name}))])
    # and ones that hide the name in Sidekiq's wrapper fields of a registered job
    sidequest.enqueue("reliability.mark", ["wrapped"])
    store.push(
        [
            (
                "default",
                json.dumps(
                    {"class": "reliability.mark", "wrapped": "os.system", "args": ["w2"], "jid": "w2"}
                ),
            )
        ]
    )
    # when a worker runs everything
    assert Launcher(sidequest.get_config(), burst=True).run() == 0
    # then nothing was called: only registered jobs ran, the others wait in the retry set as unknown
    assert not marker.exists()
    assert sorted(ledger.tags()) == ["w2", "wrapped"]
    messages = {json.loads(raw)["error_message"] for _, raw in store.set_range("retry", 0, -1)}
    assert {m.split(". A job runs")[0].split(";")[0] for m in messages} == {
        f"unknown job class {name}" for name in IMPORTABLE
    }


class PasswordRedis:
    """A private redis-server that requires a password (the shared fixtures run without one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, password: str = PASSWORD) -> str:
        return f"redis://:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", PASSWORD),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        wait_for(lambda: _pings(client), 10, "redis-server with a password")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD, decode_responses=True)


def _pings(client) -> bool:  # type: ignore[no-untyped-def]
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[PasswordRedis]:
    server = PasswordRedis(tmp_path / "redis-auth")
    server.start()
    yield server
    server.stop()


def sidequest_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidequest", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
def test_a_redis_password_never_appears_in_logs_the_cli_or_the_process_records(
    password_redis: PasswordRedis, tmp_path: Path
) -> None:
    # given a worker logging at DEBUG with the password in its URL
    url = password_redis.url()
    store = open_store(url)
    sidequest.get_config().use_store(store)
    ledger = Ledger(tmp_path / "ledger.txt")
    worker = WorkerProcess(url, tmp_path, ledger, "-v")
    try:
        # when it runs jobs, fails some, and lives through Redis going away and coming back
        sidequest.enqueue("reliability.mark", ["ok"])
        sidequest.enqueue("reliability.fail", ["boom"])
        sidequest.enqueue("no.such.Job", ["x"])
        wait_for(lambda: ledger.holds(["ok"]) and store.set_size("retry") == 2, what="jobs to run")
        password_redis.stop()
        wait_for(lambda: "unavailable" in worker.output(), what="the outage to be logged")
        password_redis.start()
        sidequest.enqueue("reliability.mark", ["after"])
        wait_for(lambda: ledger.holds(["after"]), what="a job after the outage")
        records = [json.dumps(record.info) for record in store.processes()]
        stats = sidequest_cli("stats", "--url", url)
        wrong = sidequest_cli("stats", "--url", password_redis.url("Wr0ng-secret"))
        assert worker.terminate() == 0
    finally:
        worker.cleanup()
        store.close()
    # then the password is nowhere: not in the worker's whole log, the CLI output or the records
    output = worker.output()
    assert "redis://:***@127.0.0.1" in output and "unavailable" in output
    assert PASSWORD not in output
    assert stats.returncode == 0 and "redis://:***@127.0.0.1" in stats.stdout
    assert any(line.split()[0] == "processed" for line in stats.stdout.splitlines() if line)
    assert PASSWORD not in stats.stdout + stats.stderr
    assert wrong.returncode != 0 and "refused the credentials" in wrong.stderr + wrong.stdout
    assert "Wr0ng-secret" not in wrong.stdout + wrong.stderr and PASSWORD not in wrong.stderr
    assert records and not any(PASSWORD in record for record in records)


@pytest.mark.slow
def test_a_worker_with_a_wrong_password_says_so_without_printing_it(
    password_redis: PasswordRedis, tmp_path: Path
) -> None:
    worker = WorkerProcess(password_redis.url("Wr0ng-secret"), tmp_path, Ledger(tmp_path / "ledger.txt"))
    try:
        wait_for(lambda: "credentials" in worker.output() or not worker.alive(), what="the refusal")
    finally:
        worker.cleanup()
    assert "Wr0ng-secret" not in worker.output() and PASSWORD not in worker.output()
