"""Issue 5, item 1: jobs a Ruby Sidekiq client enqueues run in a sidequest worker, with the same arguments."""

from __future__ import annotations

import time

import pytest

import sidequest
from sidequest.stores.redis import RedisStore
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


def test_ruby_and_python_schedulers_polling_together_move_each_job_once(
    interop: Interop, store: RedisStore
) -> None:
    # given a Ruby sidekiq process and a sidequest worker, both polling the schedule
    sidekiq = interop.sidekiq("ruby-only")
    wait_for(lambda: len(store.processes()) == 1, what="the Ruby process to register")
    worker = interop.worker("-q", "python")
    wait_for(lambda: len(store.processes()) == 2, what="the sidequest worker to register")

    # when jobs for the Python side come due over a few seconds
    start = time.time() + 0.5
    jids = {sidequest.enqueue("HardJob", [n], queue="python", at=start + n * 0.05) for n in range(80)}

    # then each runs exactly once, whichever scheduler moved it
    wait_for(lambda: len(interop.ledger()) >= len(jids), timeout=20, what="every scheduled job to run")
    assert interop.stop(worker) == 0 and interop.stop(sidekiq) == 0
    ran = interop.ledger()
    moved_by_ruby = sum(1 for row in ran if row["moved_by"] == "ruby")
    assert sorted(row["jid"] for row in ran) == sorted(jids), f"{moved_by_ruby} moved by Ruby"
