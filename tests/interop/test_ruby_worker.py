"""Issue 5, item 2: jobs sidequest enqueues by class name run in a real Ruby `sidekiq` worker."""

from __future__ import annotations

import time

import pytest

import sidequest
from sidequest.stores.redis import RedisStore
from tests.interop.conftest import Interop, wait_for

pytestmark = pytest.mark.slow


def test_a_ruby_sidekiq_worker_runs_what_sidequest_enqueued_now_later_and_in_bulk(
    interop: Interop, store: RedisStore
) -> None:
    # given jobs for the Ruby class HardJob, which has no Python body, in a queue only Ruby works
    expected: dict[str | None, list[object]] = {}
    args: list[object] = [1, "two", {"three": [3]}, None, True, 1.5, "ünïcode ✓"]
    expected[sidequest.enqueue("HardJob", args, queue="ruby")] = args
    expected[sidequest.enqueue("HardJob", ["scheduled"], queue="ruby", at=time.time() + 1)] = ["scheduled"]
    bulk = [["bulk", n] for n in range(3)]
    jids = sidequest.enqueue_bulk("HardJob", bulk, queue="ruby")
    expected.update(zip(jids, bulk, strict=True))
    assert None not in expected and store.set_size("schedule") == 1

    # when a Ruby sidekiq process works that queue
    sidekiq = interop.sidekiq("ruby")
    ran = wait_for(
        lambda: (lambda rows: rows if len(rows) >= len(expected) else None)(interop.ledger()),
        timeout=30,  # Sidekiq 6.4's first scheduler poll comes 0-5 s after start, then about every second
        what="Ruby to run every job",
    )

    # then Ruby ran each job once with the arguments sidequest gave it, the scheduled one included
    assert interop.stop(sidekiq) == 0, interop.output(sidekiq)
    log = interop.output(sidekiq)
    assert " WARN: " not in log and " ERROR: " not in log, log  # e.g. 6.4's strict-args warning
    assert {row["jid"]: row["args"] for row in ran} == expected
    assert {row["runtime"] for row in ran} == {"ruby"}
    assert store.set_size("schedule") == 0 and store.queue_size("ruby") == 0
