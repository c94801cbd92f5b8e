"""A real `sidequest worker` subprocess for tests, and the helpers that watch it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.waiting import wait_for as wait_for  # the one wait helper, re-exported

JOBS = Path(__file__).resolve().parents[1] / "runtime" / "worker_jobs.py"


def worker_command(jobs: Path, url: str, config: Path, *extra: str) -> list[str]:
    """`python -m sidequest worker` for a jobs file, a store URL and a TOML config."""
    return [
        sys.executable,
        "-m",
        "sidequest",
        "worker",
        "-r",
        str(jobs),
        "--url",
        url,
        "-C",
        str(config),
        *extra,
    ]


class Worker:
    """A `sidequest worker` subprocess with a short heartbeat so recovery tests take seconds (a test
    where only one worker runs at a time may shorten process_ttl further: no live one can be taken
    for dead)."""

    def __init__(
        self, url: str, tmp_path: Path, *extra: str, heartbeat_interval: float = 0.5, process_ttl: float = 2
    ) -> None:
        config = tmp_path / f"sidequest-{heartbeat_interval:g}-{process_ttl:g}.toml"
        config.write_text(
            f"heartbeat_interval = {heartbeat_interval}\nprocess_ttl = {process_ttl}\npoll_interval = 0.1\n"
        )
        self.log = tmp_path / f"worker-{time.monotonic_ns()}.log"
        env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt"), "PYTHONUNBUFFERED": "1"}
        for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
            env.pop(var, None)
        with open(self.log, "wb") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(
                worker_command(JOBS, url, config, *extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def output(self) -> str:
        return self.log.read_text()

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)


def ledger(tmp_path: Path) -> list[str]:
    path = tmp_path / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []
