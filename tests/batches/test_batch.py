"""Batches on every store with an in-process burst worker: callbacks, status, failures, nesting."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

import sidequest
from sidequest import Batch, Job, job
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store

RAN: list[Any] = []


@job(name="tests.batches.import_row")
def import_row(row: int) -> None:
    if row < 0:
        raise ValueError(f"row {row} is broken")
    RAN.append(("row", row))


@job(name="tests.batches.fragile", retry=0)
def fragile(row: int) -> None:
    raise ValueError(f"row {row} cannot be imported")


class FinishImport(Job, name="tests.batches.FinishImport"):
    def perform(self, bid: str, options: dict[str, Any]) -> None:
        RAN.append(("callback", bid, options))


class Fanout(Job, name="tests.batches.Fanout"):
    def perform(self, count: int) -> None:
        batch = self.batch
        assert batch is not None
        with batch.jobs():
            import_row.perform_bulk([[n] for n in range(count)])


@job(name="tests.batches.side_effect")
def side_effect(n: int) -> None:
    RAN.append(("side", n))


@job(name="tests.batches.function_fanout")
def function_fanout(count: int) -> None:
    side_effect.perform_async(-1)  # outside jobs(): does not join the batch
    batch = Batch.current()
    assert batch is not None
    with batch.jobs():
        import_row.perform_bulk([[n] for n in range(count)])


@pytest.fixture
def worker_store(store: Store) -> Iterator[Store]:
    RAN.clear()
    config = sidequest.get_config()
    config.use_store(store)
    config.update(heartbeat_interval=0.2, process_ttl=2, poll_interval=0.05)
    yield store
    config.use_store(None)


def burst() -> None:
    assert Launcher(sidequest.get_config(), burst=True).run() == 0


def callbacks() -> list[tuple[str, ...]]:
    return [entry for entry in RAN if entry[0] == "callback"]


def test_success_callback_runs_once_after_every_job_of_the_batch(worker_store: Store) -> None:
    # given a batch of 20 rows with complete and success callbacks
    batch = Batch(description="import 42")
    batch.on("complete", FinishImport, {"event": "complete"})
    batch.on("success", FinishImport, {"import_id": 42})
    with batch.jobs():
        import_row.perform_bulk([[n] for n in range(10)])
        for n in range(10, 20):
            import_row.perform_async(n)
    # when a worker drains the queue
    burst()
    # then every row ran before both callbacks, which ran once each with the batch id and options
    assert sorted(entry[1] for entry in RAN if entry[0] == "row") == list(range(20))
    assert sorted(callbacks(), key=str) == [
        ("callback", batch.bid, {"event": "complete"}),
        ("callback", batch.bid, {"import_id": 42}),
    ]
    assert RAN.index(callbacks()[0]) > max(i for i, e in enumerate(RAN) if e[0] == "row")
    status = Batch.status(batch.bid)
    assert status is not None
    assert (status.description, status.total, status.pending, status.failures) == ("import 42", 20, 0, 0)
    assert status.complete_at is not None and status.success_at is not None and status.done
    assert status.callbacks == {
        "complete": ["tests.batches.FinishImport"],
        "success": ["tests.batches.FinishImport"],
    }
    again = asyncio.run(Batch.astatus(batch.bid))
    assert again is not None and replace(again, expires_at=0) == replace(status, expires_at=0)


def test_a_failing_job_completes_the_batch_but_it_succeeds_only_after_the_job_does(
    worker_store: Store,
) -> None:
    batch = Batch(description="with a bad row")
    batch.on("complete", FinishImport, {"event": "complete"})
    batch.on("success", FinishImport, {"event": "success"})
    with batch.jobs():
        import_row.perform_async(1)
        bad = import_row.perform_async(-1)
    burst()
    # the bad row failed into the retry set: complete fired, success did not
    assert [entry[2] for entry in callbacks()] == [{"event": "complete"}]
    status = Batch.status(batch.bid)
    assert status is not None
    assert status.failures == 1 and status.pending == 1
    assert status.failed == {bad: "ValueError: row -1 is broken"}
    assert status.pending_jids == [bad]


def test_a_dead_job_fires_death_once_and_never_success(worker_store: Store) -> None:
    batch = Batch(description="doomed")
    batch.on("death", FinishImport, {"event": "death"})
    batch.on("success", FinishImport, {"event": "success"})
    with batch.jobs():
        fragile.perform_async(1)
        fragile.perform_async(2)
        import_row.perform_async(3)
    burst()
    assert [entry[2] for entry in callbacks()] == [{"event": "death"}]
    status = Batch.status(batch.bid)
    assert status is not None and status.dead == 2 and status.death_at is not None and not status.done


def test_jobs_of_a_batch_add_more_jobs_to_it_while_it_runs(worker_store: Store) -> None:
    batch = Batch(description="fan out")
    batch.on("success", FinishImport, {"event": "success"})
    with batch.jobs():
        Fanout.perform_async(5)
    burst()
    # the callback waited for the five rows the first job added
    assert sorted(entry[1] for entry in RAN if entry[0] == "row") == [0, 1, 2, 3, 4]
    assert RAN[-1] == ("callback", batch.bid, {"event": "success"})
    status = Batch.status(batch.bid)
    assert status is not None and status.total == 6


def test_a_child_batch_holds_its_parent_until_it_succeeds(worker_store: Store) -> None:
    parent = Batch(description="parent")
    parent.on("success", FinishImport, {"batch": "parent"})
    child = Batch(description="child")
    child.on("success", FinishImport, {"batch": "child"})
    with parent.jobs():
        import_row.perform_async(1)
        with child.jobs():
            import_row.perform_async(2)
            import_row.perform_async(3)
    # before any job ran, the parent counts its job and its child as pending
    status = Batch.status(parent.bid)
    assert status is not None and status.pending == 2 and status.total == 1
    assert Batch.status(child.bid).parent == parent.bid  # type: ignore[union-attr]
    # one burst run: it ends only after the jobs its acknowledgements pushed (the child's report to
    # its parent, then the parent's callback) have run
    burst()
    assert [entry[2] for entry in callbacks()] == [{"batch": "child"}, {"batch": "parent"}]


def test_an_unknown_event_or_a_late_callback_is_refused() -> None:
    batch = Batch()
    with pytest.raises(sidequest.batches.BatchError, match="unknown batch event 'finish'"):
        batch.on("finish", FinishImport)
    batch._created = True
    with pytest.raises(sidequest.batches.BatchError, match="before its first jobs"):
        batch.on("success", FinishImport)


def test_a_function_job_adds_jobs_through_batch_current_and_other_pushes_stay_out(
    worker_store: Store,
) -> None:
    batch = Batch(description="function fan out")
    batch.on("success", FinishImport, {"event": "success"})
    with batch.jobs():
        function_fanout.perform_async(3)
    burst()
    status = Batch.status(batch.bid)
    assert status is not None and status.total == 4 and status.done
    assert ("side", -1) in RAN
    assert callbacks() == [("callback", batch.bid, {"event": "success"})]
