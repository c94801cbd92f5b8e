"""A class job's retry hooks run on the instance that performed it, the same in the worker and in tests.

One failing class job, run by a worker, by fake mode's drain(retry=True) and by inline mode: the hooks
(worker and fake) and perform (all three) see the same jid and payload.
"""

from __future__ import annotations

from typing import Any

import pytest

import sidequest
import sidequest.testing as sq_testing
from sidequest import Job
from sidequest.runtime.launcher import Launcher
from sidequest.stores.memory import MemoryStore


class Charge(Job):
    """Fails, and its retry_in sends it to the dead set; notes what each step saw on self."""

    sidequest_options = {"retry": 1}
    seen: list[tuple[str, Any, ...]] = []

    def perform(self, order: int) -> None:
        Charge.seen.append(("perform", id(self), self.jid, self.payload["args"]))
        raise ConnectionError(f"order {order} failed")

    def retry_in(self, count: int, exc: BaseException) -> float | int | str | None:
        Charge.seen.append(
            ("retry_in", id(self), self.jid, self.payload["args"], self.payload["retry_count"])
        )
        return "kill"

    def retries_exhausted(self, payload: dict[str, Any], exc: BaseException) -> Any:
        Charge.seen.append(("retries_exhausted", id(self), self.jid, payload["error_class"]))
        return None


def what_was_seen(jid: str) -> list[tuple[Any, ...]]:
    """The steps in order, with 'same' where the instance was the one that performed, and the jid checked."""
    performer = Charge.seen[0][1]
    steps = []
    for step, instance, seen_jid, *rest in Charge.seen:
        assert seen_jid == jid, Charge.seen
        steps.append((step, "same" if instance == performer else "another", *rest))
    return steps


def run_in_worker() -> list[tuple[Any, ...]]:
    config = sidequest.get_config()
    config.use_store(MemoryStore())
    jid = Charge.perform_async(7)
    assert jid is not None
    assert Launcher(config, burst=True).run() == 0
    return what_was_seen(jid)


def run_in_fake_mode() -> list[tuple[Any, ...]]:
    with sq_testing.fake():
        jid = Charge.perform_async(7)
        assert jid is not None
        sq_testing.drain(Charge, retry=True)
        assert len(sq_testing.dead_jobs()) == 1
        return what_was_seen(jid)


EXPECTED = [
    ("perform", "same", [7]),
    ("retry_in", "same", [7], 0),
    ("retries_exhausted", "same", "ConnectionError"),
]


@pytest.mark.parametrize("mode", [run_in_worker, run_in_fake_mode], ids=["worker", "fake"])
def test_retry_hooks_run_on_the_instance_that_performed_with_its_jid_and_payload(mode: Any) -> None:
    Charge.seen = []
    assert mode() == EXPECTED


def test_inline_mode_performs_on_an_instance_with_jid_and_payload_and_raises_without_hooks() -> None:
    # Sidekiq's inline mode: no retries, the exception reaches the code that enqueued the job
    Charge.seen = []
    with sq_testing.inline(), pytest.raises(ConnectionError):
        Charge.perform_async(7)
    [(step, _, jid, args)] = Charge.seen
    assert (step, args) == ("perform", [7]) and len(jid) == 24
