"""A job that raises what is not an Exception (SystemExit, KeyboardInterrupt) is only that job's failure.

Real `sidequest worker` subprocesses: a thread that died of such an exception would wedge the worker,
which only shows in a process of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sidequest import enqueue
from sidequest.stores import Store
from tests.support.worker import Worker, ledger

pytestmark = pytest.mark.slow


def test_system_exit_and_keyboard_interrupt_are_job_failures_and_the_worker_goes_on(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a one-thread worker and jobs that raise SystemExit and KeyboardInterrupt (sync and async),
    # each followed by an ordinary job
    enqueue("tests.exits", ["exit"])
    enqueue("tests.record", ["after-exit"])
    enqueue("tests.interrupted", ["interrupt"])
    enqueue("tests.record", ["after-interrupt"])
    enqueue("tests.async_exits", ["async-exit"])
    enqueue("tests.record", ["after-async-exit"])
    # when a burst worker runs them
    worker = workers("-c", "1", "-t", "30", "--burst")
    # then it runs every job and exits by itself, at once (no shutdown wait for a lost thread)
    assert worker.wait(timeout=60) == 0, worker.output()
    assert sorted(ledger(tmp_path)) == sorted(
        [
            "start exit",
            "after-exit",
            "start interrupt",
            "after-interrupt",
            "start async-exit",
            "after-async-exit",
        ]
    )
    output = worker.output()
    assert "Exception in thread" not in output and "still running at the shutdown deadline" not in output
    # and each failure was logged with its traceback and went to the retry set, not back to its queue
    for name in ("SystemExit", "KeyboardInterrupt"):
        assert f"Job raised exception: {name}" in output
    assert output.count("Traceback (most recent call last)") >= 3
    retries = {json.loads(raw)["args"][0]: json.loads(raw) for _, raw in store.set_range("retry", 0, -1)}
    assert {tag: entry["error_class"] for tag, entry in retries.items()} == {
        "exit": "SystemExit",
        "interrupt": "KeyboardInterrupt",
        "async-exit": "SystemExit",
    }
    assert store.queue_size("default") == 0
    assert store.counters().failed == 3 and store.counters().processed == 6
