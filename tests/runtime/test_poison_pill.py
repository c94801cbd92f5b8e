"""A job that kills its worker process is buried after a few recoveries instead of killing workers forever.

Real `sidequest worker` subprocesses, one at a time, with a one-second heartbeat TTL (each recovery waits
for the dead one's record to expire).
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sidequest
from sidequest import enqueue, job
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store
from sidequest.stores.base import Beat
from sidequest.stores.memory import MemoryStore
from tests.support.worker import Worker, ledger, wait_for

pytestmark = pytest.mark.slow


def test_a_job_that_kills_its_worker_goes_to_the_dead_set_after_three_crashes(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a job that ends its process (os._exit), queued before an ordinary job
    jid = enqueue("tests.hard_exit", ["pill"])
    enqueue("tests.record", ["after"])
    # when workers start one after the other, each dying in the job (recovered by the next one)
    crashed = []
    for _ in range(3):
        worker = workers("-c", "1", heartbeat_interval=0.2, process_ttl=1)
        assert worker.wait(timeout=60) == 1, worker.output()
        crashed.append(worker)
    survivor = workers("-c", "1", heartbeat_interval=0.2, process_ttl=1)
    # then the fourth one buries it as ProcessCrashed instead of running it, and the other job ran once
    wait_for(lambda: store.set_size("dead") == 1, what="the poison pill in the dead set")
    wait_for(lambda: "after" in ledger(tmp_path), what="the job queued after the poison pill")
    assert sorted(ledger(tmp_path)) == ["after"] + ["start pill"] * 3
    [(_, raw)] = store.set_range("dead", 0, -1)
    entry = json.loads(raw)
    assert (entry["jid"], entry["error_class"]) == (jid, "ProcessCrashed")
    assert "died 3 times" in entry["error_message"]
    # and each worker that recovered it said which job the dead process held, before running it
    assert f"tests.hard_exit jid={jid} (recovery 1)" in crashed[1].output()
    assert f"tests.hard_exit jid={jid} (recovery 2)" in crashed[2].output()
    assert f"tests.hard_exit jid={jid} was held by a worker process that died, 3 times" in survivor.output()
    survivor.signal(signal.SIGTERM)
    assert survivor.wait() == 0
    assert store.queue_size("default") == 0


def test_a_worker_names_the_jobs_it_recovers_from_a_dead_process(caplog: pytest.LogCaptureFixture) -> None:
    # given a process that died holding a job (its heartbeat is over)
    memory = MemoryStore()
    config = sidequest.get_config()
    config.use_store(memory)
    ran: list[str] = []

    @job(name="tests.remembered")
    def remembered(tag: str) -> None:
        ran.append(tag)

    jid = remembered.perform_async("held")
    memory.beat(Beat("box:1:gone", "{}", 1, time.time(), False, 0, 0, 1, {}, ttl=-1))
    memory.fetch("box:1:gone", ["default"], 1)
    # when a worker starts
    with caplog.at_level(logging.WARNING, logger="sidequest"):
        assert Launcher(config, burst=True).run() == 0
    # then it says which job the dead process held, and runs it
    assert f"by process box:1:gone, which died: tests.remembered jid={jid} (recovery 1)" in caplog.text
    assert ran == ["held"]
