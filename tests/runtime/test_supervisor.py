"""`sidequest worker --processes N`: one supervisor, N worker processes, as users run it (a real subprocess)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.stores import Store
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


pytestmark = pytest.mark.parametrize("url", ["redis"], indirect=True)


@pytest.fixture
def supervisor(url: str, tmp_path: Path) -> Iterator[Worker]:
    worker = Worker(url, tmp_path, "--processes", "2")
    yield worker
    left = child_pids(worker.process.pid)  # never leave a worker behind a failed test
    if worker.process.poll() is None:
        worker.process.kill()
        worker.process.wait()
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def child_pids(parent: int) -> list[int]:
    """Live children of parent, from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(entry))
    return children


def worker_pids(store: Store) -> set[int]:
    """Pids of the live worker processes in the process registry (identity is hostname:pid:nonce)."""
    return {int(record.identity.split(":")[-2]) for record in store.processes()}


def test_two_processes_register_run_jobs_and_stop_together_on_term(
    store: Store, supervisor: Worker, tmp_path: Path
) -> None:
    # given a supervisor started with --processes 2
    wait_for(lambda: len(store.processes()) == 2, what="two worker identities", timeout=30)
    # then both are its children, each with its own identity
    children = set(child_pids(supervisor.process.pid))
    assert worker_pids(store) == children, supervisor.output()
    # and together they run every job
    for n in range(40):
        enqueue("tests.record", [f"job-{n}"])
    wait_for(lambda: len(ledger(tmp_path)) == 40, what="jobs run")
    assert sorted(ledger(tmp_path)) == sorted(f"job-{n}" for n in range(40))

    # when the supervisor gets TERM
    supervisor.signal(signal.SIGTERM)

    # then both workers stop cleanly, leave the registry, and the supervisor exits 0
    assert supervisor.wait() == 0, supervisor.output()
    assert child_pids(supervisor.process.pid) == []
    assert store.processes() == []
    assert store.counters().processed == 40


def test_a_child_killed_with_sigkill_is_replaced_and_its_jobs_still_run(
    store: Store, supervisor: Worker, tmp_path: Path
) -> None:
    wait_for(lambda: len(store.processes()) == 2, what="two worker identities", timeout=30)
    victim, survivor = sorted(worker_pids(store))

    # when one worker process dies without a chance to clean up
    os.kill(victim, signal.SIGKILL)

    # then the supervisor starts a new one in its place
    wait_for(
        lambda: len(children := set(child_pids(supervisor.process.pid))) == 2 and victim not in children,
        what="a replacement worker process",
    )
    replacement = (set(child_pids(supervisor.process.pid)) - {survivor}).pop()
    wait_for(lambda: replacement in worker_pids(store), what="the replacement's identity", timeout=30)
    # and the pool keeps running jobs
    for n in range(20):
        enqueue("tests.record", [f"after-{n}"])
    wait_for(lambda: len(ledger(tmp_path)) == 20, what="jobs after the kill")
    assert supervisor.process.poll() is None, supervisor.output()

    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait() == 0, supervisor.output()


def test_burst_with_two_processes_drains_the_queue_and_exits_zero(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    for n in range(60):
        enqueue("tests.record", [f"job-{n}"])
    worker = Worker(redis_url, tmp_path, "--processes", "2", "--burst")
    try:
        assert worker.wait() == 0, worker.output()
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
    assert sorted(ledger(tmp_path)) == sorted(f"job-{n}" for n in range(60))
