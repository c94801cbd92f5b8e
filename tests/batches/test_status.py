"""Job status records on every store: states, progress, result, wait, expiry."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

import sidequest
from sidequest import Job, job
from sidequest.batches import WaitTimeout, install
from sidequest.errors import ConfigError
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store

PROGRESS_SEEN: list[tuple[float | None, str]] = []


class ImportRows(Job, name="tests.batches.status.ImportRows", status=True):
    def perform(self, rows: int) -> dict[str, int]:
        self.progress(40, f"40 of {rows} rows")
        found = sidequest.status(self.jid)
        assert found is not None
        PROGRESS_SEEN.append((found.progress, found.message))
        return {"rows": rows}


@job(name="tests.batches.status.broken", status=60, retry=1)
def broken() -> None:
    raise RuntimeError("the disk is full")


@job(name="tests.batches.status.opaque", status=True)
def opaque() -> object:
    return object()


@pytest.fixture
def worker_store(store: Store) -> Iterator[Store]:
    config = sidequest.get_config()
    config.use_store(store)
    config.update(heartbeat_interval=0.2, process_ttl=2, poll_interval=0.05)
    yield store
    config.use_store(None)


def burst() -> None:
    assert Launcher(sidequest.get_config(), burst=True).run() == 0


def test_a_job_with_status_is_queued_then_reports_progress_and_its_result(worker_store: Store) -> None:
    PROGRESS_SEEN.clear()
    install()  # records "queued" at enqueue
    jid = ImportRows.perform_async(100)
    assert jid is not None
    queued = sidequest.status(jid)
    assert queued is not None and queued.state == "queued" and queued.queued_at is not None
    burst()
    done = sidequest.status(jid)
    assert done is not None
    assert (done.state, done.result, done.progress, done.error) == ("succeeded", {"rows": 100}, 100.0, "")
    assert done.started_at is not None and done.finished_at is not None and done.done
    assert PROGRESS_SEEN == [(40.0, "40 of 100 rows")]


def test_a_failing_job_is_retrying_then_dead(worker_store: Store) -> None:
    jid = broken.perform_async()
    assert jid is not None
    assert sidequest.status(jid) is None  # without the client middleware there is no "queued" record
    burst()
    first = sidequest.status(jid)
    assert first is not None and first.state == "retrying" and first.error == "RuntimeError: the disk is full"
    # when the retry is due and fails too, the job dies
    worker_store.promote_due("retry", time.time() + 10_000)
    burst()
    last = sidequest.status(jid)
    assert last is not None and last.state == "dead" and last.retry_count == 1 and last.done


def test_a_result_that_is_not_json_is_left_out(worker_store: Store) -> None:
    jid = opaque.perform_async()
    assert jid is not None
    burst()
    found = sidequest.status(jid)
    assert found is not None and found.state == "succeeded" and found.result is None


def test_wait_blocks_until_a_worker_finishes_the_job(worker_store: Store) -> None:
    jid = ImportRows.perform_async(3)
    assert jid is not None
    with pytest.raises(WaitTimeout, match=f"job {jid} did not finish within 0.05 s; it has no status record"):
        sidequest.wait(jid, timeout=0.05)
    worker = threading.Thread(target=burst)
    worker.start()
    try:
        assert sidequest.wait(jid, timeout=20).result == {"rows": 3}
        assert asyncio.run(sidequest.await_job(jid, timeout=5)).state == "succeeded"
        found = asyncio.run(sidequest.astatus(jid))
        assert found is not None and found.result == {"rows": 3}
    finally:
        worker.join()


def test_a_bad_status_option_is_refused_with_the_fix(worker_store: Store) -> None:
    install()
    with pytest.raises(ConfigError, match="status option of tests.batches.status.opaque is 'yes'; use True"):
        opaque.set(status="yes").perform_async()


def test_records_expire_after_their_ttl(worker_store: Store) -> None:
    jid = opaque.set(status=0.3).perform_async()
    assert jid is not None
    burst()
    deadline = time.monotonic() + 10
    while sidequest.status(jid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sidequest.status(jid) is None


class AsyncImport(Job, name="tests.batches.status.AsyncImport", status=True):
    async def perform(self, rows: int) -> int:
        await asyncio.sleep(0)
        self.progress(50, "half way")
        found = await sidequest.astatus(self.jid)
        assert found is not None
        PROGRESS_SEEN.append((found.progress, found.message))
        return rows


def test_an_async_job_reports_progress_from_the_event_loop(worker_store: Store) -> None:
    PROGRESS_SEEN.clear()
    jid = AsyncImport.perform_async(8)
    assert jid is not None
    burst()
    assert PROGRESS_SEEN == [(50.0, "half way")]
    done = sidequest.status(jid)
    assert done is not None and done.state == "succeeded" and done.result == 8
