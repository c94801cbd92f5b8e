"""Real Ruby Sidekiq 6.4 (Debian's ruby-sidekiq) and real sidequest workers on one private Redis.

Ruby is driven through the scripts in ruby/: jobs.rb (Sidekiq setup and the Ruby HardJob), client.rb,
api.rb (Sidekiq's API as JSON) and web.rb (Sidekiq's Web UI). Without ruby and sidekiq these tests
skip locally and fail in CI, where .ci/run installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidequest.config import get_config
from sidequest.stores import open_store
from sidequest.stores.redis import RedisStore
from tests.support.waiting import wait_for as wait_for  # the one wait helper, re-exported

HERE = Path(__file__).resolve().parent
RUBY_DIR = HERE / "ruby"
PYTHON_JOBS = HERE / "python_jobs.py"

pytestmark = pytest.mark.slow

_RUBY_CHECK = 'require "sidekiq"; require "sidekiq/api"; require "sidekiq/web"; require "webrick"'


def _require_ruby_sidekiq() -> None:
    problem = None
    if shutil.which("ruby") is None or shutil.which("sidekiq") is None:
        problem = "ruby and the sidekiq command are not installed"
    else:
        check = subprocess.run(["ruby", "-e", _RUBY_CHECK], capture_output=True, text=True, timeout=60)
        if check.returncode != 0:
            problem = f"ruby cannot load sidekiq, its Web UI or webrick: {check.stderr.strip()}"
    if problem is None:
        return
    hint = "apt-get install ruby-sidekiq ruby-webrick"
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; .ci/run must install them ({hint})")
    pytest.skip(f"{problem} ({hint})")


@pytest.fixture(scope="session")
def ruby_sidekiq() -> None:
    """Ruby with Sidekiq 6.4, checked once per session."""
    _require_ruby_sidekiq()


class Interop:
    """One test's shared Redis, ledger file and the Ruby and Python processes working on them."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.ledger_path = tmp_path / "ledger.jsonl"
        self.env = {**os.environ, "REDIS_URL": redis_url, "LEDGER": str(self.ledger_path)}
        for var in ("SIDEQUEST_URL", "SIDEQUEST_REDIS_URL", "RUBYOPT"):
            self.env.pop(var, None)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    # ---- the ledger both runtimes write ----------------------------------------------------------
    def ledger(self) -> list[dict[str, Any]]:
        if not self.ledger_path.exists():
            return []
        return [json.loads(line) for line in self.ledger_path.read_text().splitlines() if line.strip()]

    # ---- Ruby ------------------------------------------------------------------------------------
    def ruby(self, script: str, *args: str, timeout: float = 30) -> Any:
        """Run ruby/<script> with args and return its stdout parsed as JSON."""
        result = subprocess.run(
            ["ruby", str(RUBY_DIR / script), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=RUBY_DIR,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"ruby {script} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def api(self, command: str, *args: str) -> Any:
        return self.ruby("api.rb", command, *args)

    def sidekiq(self, *queues: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        """A real `sidekiq` worker process running ruby/jobs.rb."""
        argv = ["sidekiq", "-r", "./jobs.rb", "-c", str(concurrency), "-t", "5"]
        for queue in queues:
            argv += ["-q", queue]
        return self._spawn(argv, "sidekiq", cwd=RUBY_DIR)

    def web(self, port: int) -> subprocess.Popen[bytes]:
        """Sidekiq's Web UI served by WEBrick on 127.0.0.1:port."""
        return self._spawn(["ruby", str(RUBY_DIR / "web.rb"), str(port)], "web", cwd=RUBY_DIR)

    # ---- Python ----------------------------------------------------------------------------------
    def worker(self, *extra: str, heartbeat: float = 0.5) -> subprocess.Popen[bytes]:
        """A real `sidequest worker` running python_jobs.py (heartbeat shortened so tests take seconds)."""
        config = self.tmp_path / f"sidequest-{time.monotonic_ns()}.toml"
        config.write_text(f"heartbeat_interval = {heartbeat}\nprocess_ttl = 20\npoll_interval = 0.1\n")
        argv = [sys.executable, "-m", "sidequest", "worker", "-r", str(PYTHON_JOBS)]
        argv += ["--url", self.redis_url, "-C", str(config), "-t", "5", *extra]
        return self._spawn(argv, "sidequest", cwd=self.tmp_path)

    def _spawn(self, argv: list[str], name: str, cwd: Path) -> subprocess.Popen[bytes]:
        log_path = self.tmp_path / f"{name}-{len(self.processes)}.log"
        with open(log_path, "wb") as log:  # the child keeps its own handle
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=cwd)
        self.processes.append((process, log_path))
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        for candidate, log_path in self.processes:
            if candidate is process:
                return log_path.read_text(errors="replace")
        return ""

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 15) -> int:
        """TERM a process and wait for it to exit; returns its exit code."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return self.wait(process, timeout)

    def wait(self, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
        """Wait for a process (e.g. a --burst worker) to exit by itself; returns its exit code."""
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            raise AssertionError(
                f"{process.args[0]} did not stop within {timeout}s:\n{self.output(process)}"
            ) from None

    def close(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)


@pytest.fixture
def interop(ruby_sidekiq: None, redis_url: str, tmp_path: Path) -> Iterator[Interop]:
    shared = Interop(redis_url, tmp_path)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    """A store on the shared Redis, also used by sidequest.enqueue in the test process."""
    opened = open_store(redis_url)
    assert isinstance(opened, RedisStore)
    get_config().update(url=redis_url)
    get_config().use_store(opened)
    yield opened
