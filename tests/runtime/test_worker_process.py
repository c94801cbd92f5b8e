"""The worker as users run it: a real `sidequest worker` subprocess, real signals, real stores."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.stores import Store
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


def test_burst_worker_runs_everything_and_exits_zero(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    for n in range(50):
        enqueue("tests.record", [f"job-{n}"])
    worker = workers("--burst")
    assert worker.wait() == 0, worker.output()
    assert sorted(ledger(tmp_path)) == sorted(f"job-{n}" for n in range(50))
    assert store.counters().processed == 50


def test_term_waits_for_running_jobs_then_exits_zero(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    enqueue("tests.sleepy", [1.0, "finished"])
    worker = workers("-t", "10")
    wait_for(lambda: "start finished" in ledger(tmp_path), what="job start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    assert ledger(tmp_path) == ["start finished", "finished"]
    assert store.queue_size("default") == 0 and store.processes() == []


def test_term_pushes_back_jobs_that_outlive_the_timeout(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    jid = enqueue("tests.sleepy", [30, "too-long"])
    worker = workers("-t", "0.5")
    wait_for(lambda: "start too-long" in ledger(tmp_path), what="job start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    assert [json.loads(raw)["jid"] for raw in store.queue_range("default", 0, -1)] == [jid]


def test_sigkill_loses_nothing_survivor_recovers_in_flight_jobs(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a worker that has fetched jobs and is running one of them
    enqueue("tests.sleepy", [60, "victim"])
    # (one worker alive at a time, so a 1 s record TTL takes no live worker for dead)
    victim = workers("-c", "1", heartbeat_interval=0.2, process_ttl=1)
    wait_for(lambda: "start victim" in ledger(tmp_path), what="victim start")
    for n in range(5):
        enqueue("tests.record", [f"after-{n}"])
    # when it is killed with SIGKILL
    victim.signal(signal.SIGKILL)
    victim.wait()
    enqueue("tests.sleepy", [0, "fast"])
    # then a new worker recovers its in-flight job once its heartbeat expires, and runs everything
    # (a short shutdown timeout: the re-run victim sleeps on, and TERM need not wait 25 s for it)
    survivor = workers("-c", "5", "-t", "1", heartbeat_interval=0.2, process_ttl=1)
    wait_for(lambda: ledger(tmp_path).count("start victim") == 2, what="victim job re-run", timeout=30)
    wait_for(lambda: all(f"after-{n}" in ledger(tmp_path) for n in range(5)) and "fast" in ledger(tmp_path))
    survivor.signal(signal.SIGTERM)
    survivor.wait()


def test_tstp_quiets_and_ttin_dumps_threads(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    worker = workers()
    wait_for(lambda: len(store.processes()) == 1, what="process record")
    worker.signal(signal.SIGTTIN)
    wait_for(lambda: "WARNING: thread MainThread:" in worker.output(), what="thread dump")
    worker.signal(signal.SIGTSTP)
    wait_for(lambda: store.processes()[0].quiet, what="quiet flag")
    enqueue("tests.record", ["ignored-while-quiet"])
    # a quiet worker must not pick it up: let it beat twice after a fetch's whole wait (1 s)
    after = store.processes()[0].beat + 1.5
    wait_for(lambda: store.processes()[0].beat > after, what="two more heartbeats")
    assert store.queue_size("default") == 1 and ledger(tmp_path) == []
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_remote_stop_through_the_store(store: Store, workers: Callable[..., Worker]) -> None:
    worker = workers()
    wait_for(lambda: len(store.processes()) == 1, what="process record")
    store.signal(store.processes()[0].identity, "TERM")
    assert worker.wait() == 0


def test_unknown_module_is_a_clear_usage_error(url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidequest", "worker", "-r", "no_such_module_xyz", "--url", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "cannot import module 'no_such_module_xyz'" in result.stderr
