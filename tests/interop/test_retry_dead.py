"""Issue 5, item 3: sidequest's retry and dead entries are read, and retried, by Ruby Sidekiq's API."""

from __future__ import annotations

import json
import time

import pytest

import sidequest
from sidequest.stores.redis import RedisStore
from tests.interop.conftest import Interop

pytestmark = pytest.mark.slow


def test_a_failed_job_is_in_rubys_retry_set_and_ruby_can_retry_it(
    interop: Interop, store: RedisStore
) -> None:
    # given a job that fails in a sidequest worker
    jid = sidequest.enqueue("FailingJob", [7], queue="default", retry=3, backtrace=True)
    before = time.time()
    assert interop.wait(interop.worker("--burst")) == 0
    after = time.time()

    # when Ruby's RetrySet reads the retry set
    [entry] = interop.api("retries")

    # then it shows the job, its error, its retry count and when it runs next
    assert (entry["klass"], entry["display_class"], entry["jid"]) == ("FailingJob", "FailingJob", jid)
    assert (entry["args"], entry["queue"]) == ([7], "default")
    assert (entry["error_class"], entry["error_message"]) == ("ValueError", "boom 7")
    assert entry["retry_count"] == 0
    assert before <= entry["failed_at"] <= after
    # Sidekiq's first backoff: 0**4 + 15 s plus a jitter of rand(10) * 1
    assert entry["failed_at"] + 15 <= entry["at"] <= entry["failed_at"] + 24 + 1
    assert entry["at"] == entry["score"]
    assert entry["error_backtrace"] and "in `perform'" in entry["error_backtrace"][0]
    assert "python_jobs.py" in entry["error_backtrace"][0]

    # when Ruby retries it now, as the Web UI's "Retry Now" does
    interop.api("retry_one", jid)

    # then it left the retry set and is back in its queue, pushed by Ruby's client
    assert store.set_size("retry") == 0
    [raw] = store.queue_range("default", 0, -1)
    job = json.loads(raw)
    assert (job["jid"], job["class"], job["args"], job["error_class"]) == (
        jid,
        "FailingJob",
        [7],
        "ValueError",
    )
    assert job["retry_count"] == -1  # Ruby's retry takes one off so the manual run is not counted

    # and a sidequest worker runs it again and counts the failure as Sidekiq would
    assert interop.wait(interop.worker("--burst")) == 0
    assert [row["jid"] for row in interop.ledger()] == [jid, jid]
    [entry] = interop.api("retries")
    assert entry["jid"] == jid and entry["retry_count"] == 0


def test_retry_all_from_ruby_moves_every_sidequest_retry_back(interop: Interop, store: RedisStore) -> None:
    jids = {sidequest.enqueue("FailingJob", [n], queue="default") for n in range(3)}
    assert interop.wait(interop.worker("--burst")) == 0
    assert {entry["jid"] for entry in interop.api("retries")} == jids

    interop.api("retry_all")

    assert store.set_size("retry") == 0
    assert {json.loads(raw)["jid"] for raw in store.queue_range("default", 0, -1)} == jids


def test_a_dead_job_is_in_rubys_dead_set_and_ruby_can_retry_it(interop: Interop, store: RedisStore) -> None:
    # given a job with retry: 0 that fails in a sidequest worker
    jid = sidequest.enqueue("DoomedJob", [8], queue="default", retry=0)
    assert interop.wait(interop.worker("--burst")) == 0

    # when Ruby's DeadSet reads the dead set
    [entry] = interop.api("dead")

    # then it shows the job and its error
    assert (entry["klass"], entry["jid"], entry["args"]) == ("DoomedJob", jid, [8])
    assert (entry["error_class"], entry["error_message"], entry["retry_count"]) == (
        "RuntimeError",
        "fatal 8",
        0,
    )
    assert entry["at"] == entry["score"] and abs(entry["at"] - entry["failed_at"]) < 5

    # when Ruby retries it from the dead set
    interop.api("retry_dead", jid)

    # then it is back in its queue and the dead set is empty
    assert store.set_size("dead") == 0
    [raw] = store.queue_range("default", 0, -1)
    assert (json.loads(raw)["jid"], json.loads(raw)["class"]) == (jid, "DoomedJob")


def test_ruby_reserializes_sidequests_jobs_to_the_same_bytes(interop: Interop, store: RedisStore) -> None:
    # given jobs sidequest wrote to a queue, the schedule, the retry set and the dead set
    args = [1, -2.5, 1795827751.8577726, 'ünïcode ✓ "quoted" \\ / \t\n', {"k": [None, True, False]}, []]
    sidequest.enqueue("HardJob", args, queue="parked", tags=["a", "b"])
    scheduled = [sidequest.enqueue("HardJob", [n, *args], at=time.time() + 3600) for n in range(3)]
    sidequest.enqueue("FailingJob", [7], backtrace=True)
    sidequest.enqueue("DoomedJob", [8], retry=0)
    assert interop.wait(interop.worker("--burst")) == 0
    assert (store.set_size("retry"), store.set_size("dead")) == (1, 1)

    # then Ruby's JSON of each job is byte for byte what is stored, so Ruby finds them by value
    assert interop.api("reserialized") == {"checked": 6, "different": []}

    # and rescheduling from Ruby (ZINCRBY of its own JSON) moves the jobs instead of duplicating them
    before = {json.loads(raw)["jid"]: score for score, raw in store.set_range("schedule", 0, -1)}
    after = {entry["jid"]: entry["score"] for entry in interop.api("reschedule", "60")}
    assert set(after) == set(scheduled) == set(before)
    assert all(abs(after[jid] - before[jid] - 60) < 0.01 for jid in after)
    assert store.set_size("schedule") == 3

    # and Ruby's Delete, Kill and Add to Queue find sidequest's jobs by value
    interop.api("delete_kill_add", "parked")
    assert store.queue_size("parked") == 0 and store.set_size("schedule") == 0
    assert store.set_size("dead") == 2 and store.queue_size("default") == 1


def test_a_job_class_no_python_code_serves_goes_to_the_retry_set_as_in_sidekiq(
    interop: Interop, store: RedisStore
) -> None:
    # given Ruby enqueues a class that nothing in the Python worker serves
    jid = interop.api("push", json.dumps({"class": "Billing::MissingJob", "args": [1]}))["jid"]

    # when a sidequest worker takes it
    assert interop.wait(interop.worker("--burst")) == 0

    # then it is retried later, like Sidekiq's NameError path, and Ruby shows why
    [entry] = interop.api("retries")
    assert (entry["jid"], entry["klass"], entry["retry_count"]) == (jid, "Billing::MissingJob", 0)
    assert entry["error_class"] == "UnknownJobError" and "Billing::MissingJob" in entry["error_message"]


def test_a_malformed_queue_entry_is_in_rubys_dead_set_with_its_bytes_and_the_reason(
    interop: Interop, store: RedisStore
) -> None:
    # given a queue entry that is not a job
    store.push([("default", "{not json")])

    # when a sidequest worker takes it
    assert interop.wait(interop.worker("--burst")) == 0

    # then Ruby's DeadSet shows it wrapped: the original string as the argument and why it failed
    [entry] = interop.api("dead")
    assert (entry["klass"], entry["args"], entry["queue"]) == (
        "sidequest.InvalidPayload",
        ["{not json"],
        "default",
    )
    assert entry["error_class"] == "PayloadError" and "not valid JSON" in entry["error_message"]
