"""Issue 5, item 1: jobs a Ruby Sidekiq client enqueues run in a sidequest worker, with the same arguments."""

from __future__ import annotations

import pytest

from tests.interop.conftest import Interop, wait_for

pytestmark = pytest.mark.slow


def test_a_sidequest_worker_runs_what_ruby_enqueued_now_later_and_in_bulk(interop: Interop) -> None:
    # given Ruby's client pushing HardJob with perform_async, Client.push (by name and by class),
    # perform_in, push with "at", and push_bulk
    pushed = interop.ruby("client.rb")
    assert len(pushed) == 8

    # when a sidequest worker serving a Python job registered as "HardJob" runs
    worker = interop.worker("-q", "default")
    ran = wait_for(
        lambda: (lambda rows: rows if len(rows) >= len(pushed) else None)(interop.ledger()),
        timeout=20,
        what="all Ruby-enqueued jobs to run",
    )

    # then each job ran once, in Python, with the arguments Ruby gave it, scheduled ones included
    assert interop.stop(worker) == 0, interop.output(worker)
    assert {row["jid"]: row["args"] for row in ran} == pushed
    assert {row["runtime"] for row in ran} == {"python"}
    assert len(interop.ledger()) == len(pushed)
