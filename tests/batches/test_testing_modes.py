"""A user's test of code that uses batches: fake and inline modes run the callbacks."""

from __future__ import annotations

from typing import Any

import sidequest
from sidequest import Batch, Job, job, testing

SEEN: list[Any] = []


@job(name="tests.batches.modes.resize")
def resize(image: int) -> None:
    SEEN.append(("resize", image))


class AlbumReady(Job, name="tests.batches.modes.AlbumReady"):
    def perform(self, bid: str, options: dict[str, Any]) -> None:
        SEEN.append(("ready", options["album"]))


def start_album(album: int) -> str:
    batch = Batch(description=f"album {album}")
    batch.on("success", AlbumReady, {"album": album})
    with batch.jobs():
        resize.perform_bulk([[n] for n in range(3)])
    return batch.bid


def test_fake_mode_enqueues_the_success_callback_once_the_batch_is_drained() -> None:
    SEEN.clear()
    with testing.fake():
        bid = start_album(7)
        # the jobs carry the batch id; nothing ran yet, so no callback was enqueued
        assert [j["bid"] for j in resize.jobs] == [bid] * 3
        assert AlbumReady.jobs == []
        resize.drain()
        # then the finished batch enqueued its success callback
        assert [j["args"] for j in AlbumReady.jobs] == [[bid, {"album": 7}]]
        AlbumReady.drain()
    assert SEEN[-1] == ("ready", 7)


def test_inline_mode_runs_the_callback_when_the_jobs_block_ends() -> None:
    SEEN.clear()
    with testing.inline():
        bid = start_album(8)
        status = Batch.status(bid)
    assert SEEN == [("resize", 0), ("resize", 1), ("resize", 2), ("ready", 8)]
    assert status is not None and status.done and status.total == 3


def test_job_status_in_inline_mode() -> None:
    with testing.inline():
        jid = tracked.set(status=True).perform_async(2)
        assert jid is not None
        found = sidequest.status(jid)
    assert found is not None and found.state == "succeeded" and found.result == 4


@job(name="tests.batches.modes.tracked")
def tracked(n: int) -> int:
    return n * 2
