"""Exactly-once callbacks with several real `sidequest worker` processes, some of them SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import sidequest
from sidequest import Batch
from tests.support.waiting import wait_for

JOBS = Path(__file__).with_name("worker_jobs.py")
ROWS = 120


def start_worker(url: str, tmp_path: Path, index: int, queue: str = "default") -> subprocess.Popen[bytes]:
    config = tmp_path / "sidequest.toml"
    # max_recoveries: a job that shares a process with the killing jobs dies with it, more than the
    # default 3 times on a loaded machine; burying it as a poison pill is not what this test is about
    config.write_text(
        "heartbeat_interval = 0.3\nprocess_ttl = 1.5\npoll_interval = 0.05\nmax_recoveries = 50\n"
    )
    env = {
        **os.environ,
        "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt"),
        "SIDEQUEST_TEST_KILL_AFTER_REPORT": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    command = [
        sys.executable,
        "-m",
        "sidequest",
        "worker",
        "-r",
        str(JOBS),
        "--url",
        url,
        "-C",
        str(config),
        "-c",
        "5",
        "-q",
        queue,
    ]
    with open(tmp_path / f"worker-{index}.log", "wb") as log:  # the child keeps its own handle
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def ledger(tmp_path: Path) -> list[str]:
    path = tmp_path / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_callbacks_fire_exactly_once_with_racing_workers_and_sigkills(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else f"sqlite:///{tmp_path / 'store.db'}"
    sidequest.configure(url=url)
    from tests.batches import worker_jobs

    # given three workers (and one for the callbacks, never killed, so each run of a callback is one
    # enqueue: a killed worker would run a callback it held again), and a batch whose first jobs run (and report) before the jobs() block
    # ends and adds their jids, and whose last jobs kill their worker before and after reporting; the
    # slowest reports last (firing the callbacks), dies, and reports again when it runs a second time
    callbacks_worker = start_worker(url, tmp_path, 99, "callbacks")
    workers = [start_worker(url, tmp_path, index) for index in range(3)]
    started = len(workers)
    batch = Batch(description="race")
    for event in ("complete", "success"):
        batch.on(event, worker_jobs.Finished, {"event": event})
    with batch.jobs():
        worker_jobs.row.perform_bulk([[n, "", 0.005] for n in range(ROWS)])
        wait_for(lambda: len(ledger(tmp_path)) >= ROWS // 2, timeout=20, what="rows run inside the block")
        kills = [("before", 0.05)] * 3 + [("after", 0.05)] * 2 + [("after", 2.5)]
        worker_jobs.row.perform_bulk([[ROWS + n, kill, pause] for n, (kill, pause) in enumerate(kills)])
    # when they drain it while the killed ones are replaced
    try:
        store = sidequest.get_config().store

        def settled() -> bool:
            nonlocal started
            for index, worker in enumerate(workers):
                if worker.poll() == -signal.SIGKILL:
                    workers[index] = start_worker(url, tmp_path, started)
                    started += 1
            lines = ledger(tmp_path)
            runs = Counter(int(line.split()[1]) for line in lines if line.startswith("row"))
            reports = Counter(int(line.split()[1]) for line in lines if line.startswith("reported"))
            return (
                any(line.startswith("callback success") for line in lines)
                and all(runs[ROWS + n] >= 2 for n in range(3))  # killed before reporting, ran again
                and all(reports[ROWS + n] >= 2 for n in range(3, 6))  # killed after, reported again
                # and whatever those reports enqueued has run: nothing scheduled, queued or in progress
                and store.set_size("schedule") == 0
                and store.queue_size("default") == 0
                and store.queue_size("callbacks") == 0
                and store.held_by_dead()[0] == 0
                and not any(store.in_progress(process.identity) for process in store.processes())
            )

        wait_for(settled, timeout=35, what="the success callback and every killed job's second run")
        # then every row ran, and each callback was enqueued (one jid) and ran exactly once
        lines = ledger(tmp_path)
        rows = {int(line.split()[1]) for line in lines if line.startswith("row")}
        assert rows == set(range(ROWS + 6))
        assert started > 3, "no worker was killed: the test did not test the window"
        fired = Counter(line.rsplit(" ", 1)[0] for line in lines if line.startswith("callback"))
        assert fired == {f"callback complete {batch.bid}": 1, f"callback success {batch.bid}": 1}
        status = Batch.status(batch.bid)
        assert status is not None and status.pending == 0 and status.total == ROWS + 6
    finally:
        workers.append(callbacks_worker)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
