"""A worker frozen (SIGSTOP) past its heartbeat TTL, then resumed: its jobs are recovered exactly once.

The guarantee: jobs it had fetched but not started run once, on the process that recovered them; the
resumed process drops them. A job that was running when it froze finishes there as well, so it runs
twice (the second run is the recovered copy); nothing else repeats.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue, enqueue_bulk
from sidequest.config import get_config
from sidequest.stores import open_store
from tests.reliability.harness import Ledger, WorkerProcess, tags_held, verdict, wait_for

pytestmark = pytest.mark.slow


def test_frozen_worker_resumed_after_its_ttl_runs_no_recovered_job_again(
    url: str, tmp_path: Path, report: Callable[[str], None]
) -> None:
    store = open_store(url)
    get_config().use_store(store)
    ledger = Ledger(tmp_path / "ledger.txt")
    # given a worker running two 3 s jobs with two more fetched and waiting (it may hold two jobs
    # beyond its threads, prefetch = 2, so the four are pushed in one go before it starts)
    tags = [f"held-{n}" for n in range(4)]
    enqueue_bulk("reliability.long", [[tag, 3.0] for tag in tags])
    frozen = WorkerProcess(url, tmp_path, ledger, "-c", "2", env={"SIDEQUEST_PREFETCH": "2"})
    rescuer: WorkerProcess | None = None
    try:
        identity = frozen.identity(store)
        wait_for(
            lambda: len(ledger.starts()) == 2 and len(tags_held(store, identity)) == 4, what="4 jobs held"
        )
        running = sorted(tag for tag, _ in ledger.starts())
        # when it is frozen past its TTL, another worker recovers and runs all four
        frozen.freeze()
        frozen_at = time.monotonic()
        rescuer = WorkerProcess(url, tmp_path, ledger, "-c", "4", env={"SIDEQUEST_RELIABILITY_FAST": "1"})
        wait_for(
            lambda: sorted(tag for tag, pid in ledger.entries() if pid == rescuer.pid) == tags,
            what="the rescuer to run the recovered jobs",
        )
        # (long enough that the frozen worker's running jobs have slept their 3 s)
        time.sleep(max(0.0, 3.5 - (time.monotonic() - frozen_at)))
        # and the frozen worker is resumed
        frozen.resume()
        wait_for(
            lambda: sorted(tag for tag, pid in ledger.entries() if pid == frozen.pid) == running,
            what="the jobs that were running to finish on the resumed worker",
        )
        wait_for(lambda: "record had expired" in frozen.output(), what="the resumed worker to notice")
        enqueue("reliability.mark", ["after-resume"])
        wait_for(lambda: ledger.holds(["after-resume"]), what="a new job after the resume")
        # then it started nothing it had fetched before the freeze except what was already running
        started_by_frozen = sorted(tag for tag, pid in ledger.starts() if pid == frozen.pid)
        assert started_by_frozen == running, frozen.output()
        result = verdict([*tags, "after-resume"], ledger, Counter(running))
        result.assert_exact()
        assert sorted(result.duplicates) == running
        assert frozen.terminate() == 0 and rescuer.terminate() == 0
        assert store.queue_size("default") == 0 and store.in_progress(identity) == []
        report(
            f"{len(tags)} held at freeze, {len(running)} running; {result.extra_runs} ran twice (the running ones)"
        )
    finally:
        frozen.cleanup()
        if rescuer is not None:
            rescuer.cleanup()
        store.close()
