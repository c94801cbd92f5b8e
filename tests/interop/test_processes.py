"""Issue 5, item 4: Ruby's ProcessSet, Workers and Stats see a running sidequest worker, and control it."""

from __future__ import annotations

import pytest

import sidequest
from sidequest.stores.redis import RedisStore
from tests.interop.conftest import Interop, wait_for

pytestmark = pytest.mark.slow


def test_ruby_lists_counts_quiets_and_stops_a_sidequest_worker(interop: Interop, store: RedisStore) -> None:
    # given a sidequest worker sharing Redis with Sidekiq 6.4, running one long job after three short ones
    release = interop.tmp_path / "release"
    for n in range(2):
        sidequest.enqueue("HardJob", [n])
    sidequest.enqueue("DoomedJob", [1], retry=0)
    sleepy = sidequest.enqueue("SleepyJob", [str(release)])
    worker = interop.worker("--sidekiq-version", "6", "-c", "3", "-g", "interop")
    wait_for(lambda: store.counters().processed == 3, what="the short jobs' counts to be flushed")
    wait_for(lambda: len(store.work()) == 1, what="the long job in the running-jobs hash")

    # when Ruby reads its process list, running jobs and stats
    [process] = interop.api("processes")
    [work] = interop.api("workers")
    stats = interop.api("stats")

    # then the worker is listed with its settings, its busy job and its counts
    assert process["identity"].split(":")[1] == str(worker.pid) == str(process["pid"])
    assert (process["tag"], process["queues"], process["concurrency"]) == ("interop", ["default"], 3)
    assert (process["busy"], process["quiet"], process["stopping"]) == (1, "false", False)
    assert process["rss"] > 0 and process["beat"] > process["started_at"] > 0
    assert (work["identity"], work["jid"], work["class"]) == (process["identity"], sleepy, "SleepyJob")
    assert (work["queue"], work["args"]) == ("default", [str(release)])
    assert (stats["processed"], stats["failed"]) == (3, 1)
    assert (stats["workers_size"], stats["processes_size"]) == (1, 1)
    assert list(stats["history"].values()) == [3]

    # when Ruby quiets every process, as the Web UI's "Quiet All" does
    interop.api("quiet")

    # then within a few heartbeats the worker reports quiet and takes no new job
    wait_for(lambda: store.processes()[0].quiet, timeout=10, what="the quiet flag")
    [process] = interop.api("processes")
    assert (process["quiet"], process["stopping"]) == ("true", True)
    left = sidequest.enqueue("HardJob", ["after quiet"])

    # when the long job finishes and Ruby stops every process
    release.touch()
    wait_for(lambda: store.counters().processed == 4, what="the long job to finish")
    interop.api("stop")

    # then the worker exits cleanly, leaves Ruby's process list, and the job sent while quiet waits
    assert interop.wait(worker, timeout=20) == 0, interop.output(worker)
    assert interop.api("processes") == [] and interop.api("workers") == []
    assert [row for row in interop.ledger() if row["args"] == ["after quiet"]] == []
    [waiting] = store.queue_range("default", 0, -1)
    assert left is not None and left in waiting


def test_the_version_setting_picks_the_running_jobs_hash_sidekiq_6_4_reads(
    interop: Interop, store: RedisStore
) -> None:
    # given a worker set up for Sidekiq 7 (the default), running a long job
    release = interop.tmp_path / "release"
    sidequest.enqueue("SleepyJob", [str(release)])
    worker = interop.worker("-c", "2")
    wait_for(lambda: len(store.work()) == 1, what="the long job in the running-jobs hash")

    # then Sidekiq 6.4 lists the process but not its job: 6.4 reads <identity>:workers, 7+ :work
    [process] = interop.api("processes")
    assert process["busy"] == 1
    assert interop.api("workers") == []
    release.touch()
    assert interop.stop(worker) == 0
