"""Several real `sidequest worker` processes share one seconds-level schedule; some are SIGKILLed and
restarted mid-way. The ledger of runs must show every tick enqueued once: no tick with two jobs, and
no tick missing while at least one worker was up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.worker import wait_for, worker_command

JOBS = Path(__file__).with_name("periodic_jobs.py")

pytestmark = pytest.mark.slow


def start_worker(url: str, tmp_path: Path, index: int) -> subprocess.Popen[bytes]:
    config = tmp_path / "sidequest.toml"
    config.write_text("heartbeat_interval = 0.5\nprocess_ttl = 2\npoll_interval = 0.1\n")
    env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt"), "PYTHONUNBUFFERED": "1"}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    with open(tmp_path / f"worker-{index}.log", "wb") as log:
        return subprocess.Popen(
            worker_command(JOBS, url, config), stdout=log, stderr=subprocess.STDOUT, env=env
        )


def runs(tmp_path: Path) -> dict[float, set[str]]:
    """tick -> the jids that ran for it."""
    path = tmp_path / "ledger.txt"
    found: dict[float, set[str]] = defaultdict(set)
    for line in path.read_text().splitlines() if path.exists() else []:
        _label, tick, jid = line.split()
        found[float(tick)].add(jid)
    return found


def unbroken(ledger: dict[float, set[str]]) -> bool:
    ticks = sorted(ledger)
    return bool(ticks) and len(ticks) == int(ticks[-1] - ticks[0]) + 1


@pytest.fixture(params=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'periodic.db'}"
    return str(request.getfixturevalue("redis_url"))


def test_each_tick_is_enqueued_once_by_three_workers_with_kills_and_restarts(
    shared_url: str, tmp_path: Path
) -> None:
    # given three workers declaring the same every-second schedule
    workers = [start_worker(shared_url, tmp_path, i) for i in range(3)]
    started = time.time()
    try:
        wait_for(lambda: len(runs(tmp_path)) >= 2, timeout=20, what="the first ticks to run")

        # when, one at a time, each worker is SIGKILLed and a new one started in its place
        for round_ in range(3):
            seen = len(runs(tmp_path))
            wait_for(lambda: len(runs(tmp_path)) > seen, timeout=20, what="a tick to run between kills")  # noqa: B023
            victim = workers[round_]
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            workers[round_] = start_worker(shared_url, tmp_path, 3 + round_)
        killed_by = time.time()
        # a job the last victim had fetched runs again once its record expires (process_ttl = 2 s),
        # so wait for an unbroken run of ticks well past the last kill, not just for late ticks
        with contextlib.suppress(AssertionError):  # the assertions below say what is missing
            wait_for(
                lambda: unbroken(runs(tmp_path)) and max(runs(tmp_path)) >= killed_by + 4,
                timeout=30,
                what="an unbroken run of ticks past the last restart",
            )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)

    # then the ticks form an unbroken run of seconds, each with exactly one job
    ledger = runs(tmp_path)
    ticks = sorted(ledger)
    assert ticks[0] <= started + 20
    assert ticks[-1] >= killed_by + 4
    expected = [ticks[0] + i for i in range(int(ticks[-1] - ticks[0]) + 1)]
    assert ticks == expected, f"missing ticks: {sorted(set(expected) - set(ticks))}"
    doubled = {tick: jids for tick, jids in ledger.items() if len(jids) > 1}
    assert not doubled, f"ticks enqueued more than once: {doubled}"
