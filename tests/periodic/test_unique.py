"""Unique jobs on every store: duplicates dropped while pending, scheduled or running; the lock's
release by policy; no two winners among concurrent threads or processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest import payload as wire
from sidequest.config import get_config
from sidequest.middleware import expiring, unique
from sidequest.runtime.execute import run_job
from sidequest.stores import Store
from tests.periodic import feature_jobs
from tests.periodic.feature_jobs import by_account, doomed, flaky, sync_account
from tests.support.worker import worker_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def features() -> Iterator[None]:
    unique.install()
    expiring.install()
    feature_jobs.RAN.clear()
    yield


def run_next(store: Store, queue: str = "default") -> None:
    """Run the next job of queue in this process, through the server middleware, as a worker would."""
    [work] = store.fetch("test:1:abc", [queue], 1)
    run_job(wire.loads(work.payload), get_config())
    store.ack("test:1:abc", [work])


def test_an_identical_enqueue_is_dropped_while_the_first_is_pending(store: Store) -> None:
    first = sync_account.perform_async(7)
    second = sync_account.perform_async(7)
    other = sync_account.perform_async(8)

    assert first is not None and other is not None
    assert second is None
    assert store.queue_size("default") == 2
    assert json.loads(store.queue_oldest("default") or "{}")["unique_for"] == 60


def test_the_lock_goes_when_the_job_succeeds(store: Store) -> None:
    sync_account.perform_async(7)

    run_next(store)

    assert feature_jobs.RAN == ["sync_account 7"]
    assert sync_account.perform_async(7) is not None


def test_a_scheduled_job_holds_its_lock_until_it_runs(store: Store) -> None:
    assert sync_account.perform_in(3600, 7) is not None

    assert sync_account.perform_async(7) is None
    assert store.set_size("schedule") == 1
    # the lock lives until unique_for after the run time, not unique_for after now
    [(_, raw)] = store.set_range("schedule", 0, -1)
    key = json.loads(raw)["unique_digest"]
    assert "at" not in json.loads(raw)
    assert store.unique_owner(key, wire_time() + 3600 + 30) == json.loads(raw)["jid"]


def wire_time() -> float:
    from sidequest._time import now

    return now()


def test_set_turns_uniqueness_on_for_one_enqueue_and_unique_key_chooses_what_counts(store: Store) -> None:
    from tests.periodic.feature_jobs import refresh_quote

    assert refresh_quote.set(unique_for=30).perform_async("ACME") is not None
    assert refresh_quote.set(unique_for=30).perform_async("ACME") is None
    assert refresh_quote.perform_async("ACME") is not None  # not unique without the option

    assert by_account.perform_async(1, "first note") is not None
    assert by_account.perform_async(1, "another note") is None  # same account: same key


def test_a_bad_unique_option_names_the_job_and_the_fix(store: Store) -> None:
    from sidequest.errors import ConfigError

    with pytest.raises(
        ConfigError, match="unique_until of tests.unique.sync_account is 'later'; use 'success'"
    ):
        sync_account.set(unique_until="later").perform_async(1)


def test_concurrent_enqueues_from_threads_leave_one_job(store: Store) -> None:
    import threading

    jids: list[str | None] = []
    barrier = threading.Barrier(8)

    def enqueue() -> None:
        barrier.wait()
        jids.append(sync_account.perform_async(42))

    threads = [threading.Thread(target=enqueue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len([jid for jid in jids if jid is not None]) == 1
    assert store.queue_size("default") == 1


ENQUEUE = """
import sys
sys.path.insert(0, {root!r})
import sidequest
sidequest.configure(url={url!r})
from tests.periodic.feature_jobs import sync_account
sys.stdin.readline()  # start together
print(sync_account.perform_async(42) or "dropped")
"""


def test_concurrent_enqueues_from_processes_leave_one_job(shared_store: Store) -> None:
    store = shared_store
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUE.format(root=str(ROOT), url=store.url)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate("go\n", timeout=60)[0].strip() for process in processes]

    assert sorted(outputs).count("dropped") == 3, outputs
    assert store.queue_size("default") == 1


# ---- failure policies, with a real worker ---------------------------------------------------------


def burst_worker(store: Store, tmp_path: Path) -> list[str]:
    config = tmp_path / "sidequest.toml"
    config.write_text("heartbeat_interval = 0.5\nprocess_ttl = 2\npoll_interval = 0.1\n")
    env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt")}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    jobs = Path(feature_jobs.__file__)
    done = subprocess.run(
        worker_command(jobs, store.url, config, "--burst"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ledger = tmp_path / "ledger.txt"
    return ledger.read_text().splitlines() if ledger.exists() else []


def test_a_failed_job_waiting_for_its_retry_keeps_the_lock_by_default(
    shared_store: Store, tmp_path: Path
) -> None:
    flaky.perform_async(7)

    ran = burst_worker(shared_store, tmp_path)

    assert ran == ["flaky 7"]
    assert shared_store.set_size("retry") == 1
    assert flaky.perform_async(7) is None


def test_with_unique_until_finish_a_failure_releases_the_lock_at_once(
    shared_store: Store, tmp_path: Path
) -> None:
    flaky.set(unique_until="finish").perform_async(7)

    ran = burst_worker(shared_store, tmp_path)

    assert ran == ["flaky 7"]
    assert shared_store.set_size("retry") == 1
    assert flaky.perform_async(7) is not None


def test_a_job_that_dies_releases_its_lock(shared_store: Store, tmp_path: Path) -> None:
    doomed.perform_async(7)

    ran = burst_worker(shared_store, tmp_path)

    assert ran == ["doomed 7"]
    assert doomed.perform_async(7) is not None


def test_a_job_that_succeeds_in_a_worker_releases_its_lock(shared_store: Store, tmp_path: Path) -> None:
    sync_account.perform_async(7)

    ran = burst_worker(shared_store, tmp_path)

    assert ran == ["sync_account 7"]
    assert sync_account.perform_async(7) is not None


@pytest.mark.parametrize(
    ("until", "duplicate_accepted"), [("success", False), ("finish", False), ("start", True)]
)
def test_while_the_job_runs_a_duplicate_is_dropped_unless_the_lock_went_at_start(
    shared_store: Store, tmp_path: Path, until: str, duplicate_accepted: bool
) -> None:
    from tests.periodic.feature_jobs import held
    from tests.support.worker import wait_for

    gate = tmp_path / "gate"
    held.set(unique_until=until).perform_async(7, str(gate))
    config = tmp_path / "sidequest.toml"
    config.write_text("heartbeat_interval = 0.5\nprocess_ttl = 2\npoll_interval = 0.1\n")
    env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt")}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    ledger = tmp_path / "ledger.txt"
    process = subprocess.Popen(
        worker_command(Path(feature_jobs.__file__), shared_store.url, config, "--burst"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: ledger.exists() and "start held 7" in ledger.read_text(), what="the job to start")

        duplicate = held.set(unique_until=until).perform_async(7, str(gate))
    finally:
        gate.touch()
        process.wait(60)

    assert (duplicate is not None) is duplicate_accepted


def test_a_unique_option_without_the_middleware_says_how_to_turn_it_on() -> None:
    from sidequest import job
    from sidequest.errors import ConfigError

    # given a process that never called unique.install()
    get_config().client_middleware.clear()
    get_config().server_middleware.clear()

    @job(name="tests.unique.forgotten", unique_for=60)
    def forgotten() -> None: ...

    with pytest.raises(
        ConfigError, match=r"needs its middleware: call sidequest.middleware.unique.install\(\)"
    ):
        forgotten.perform_async()
