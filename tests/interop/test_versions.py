"""Issue 5, item 6: every Sidekiq version's data is read, and each version setting writes what that version reads.

Sidekiq 6.4 is checked against what real Sidekiq 6.4.1 wrote (tests/interop/fixtures/sidekiq-6.4); 7.x and 8.x
against fixtures built from the spec (fixtures/sidekiq-7.json, sidekiq-8.json): 8.x payload timestamps
are integer milliseconds, its process record carries ``concurrency`` as a hash field (8.1.2+) and
``capsules`` in info. sidequest reads every form and always writes float seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import sidequest
from sidequest import _time
from sidequest import payload as wire
from sidequest.config import Config, Settings
from sidequest.runtime import retry
from sidequest.runtime.heartbeat import beat_interval, process_info
from sidequest.stores.redis import RedisStore
from tests.interop.conftest import Interop, wait_for

pytestmark = pytest.mark.slow

SIDEKIQ_64 = Path(__file__).parent / "fixtures" / "sidekiq-6.4"
SPEC_BUILT = Path(__file__).parent / "fixtures"


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


CLIENT_64 = _load(SIDEKIQ_64 / "client.json")
SETS_64 = _load(SIDEKIQ_64 / "sets.json")
API_64 = _load(SIDEKIQ_64 / "api.json")
RUNNING_64 = _load(SIDEKIQ_64 / "server_running.json")
V7 = _load(SPEC_BUILT / "sidekiq-7.json")
V8 = _load(SPEC_BUILT / "sidekiq-8.json")

#: Each version's process record as (identity, hash fields, running-jobs key suffix, running-jobs hash).
RECORDS = {
    "6": (
        RUNNING_64["processes_set"][0],
        RUNNING_64["process_hash"],
        RUNNING_64["running_hash_key_suffix"],
        RUNNING_64["running_hash"],
    ),
    "7": (V7["process_identity"], V7["process_hash"], V7["running_hash_key_suffix"], V7["running_hash"]),
    "8": (V8["process_identity"], V8["process_hash"], V8["running_hash_key_suffix"], V8["running_hash"]),
}


@pytest.fixture
def clock() -> Iterator[list[float]]:
    """A stopped clock: now() returns the first value a test puts in the list (the real time until then)."""
    moments: list[float] = []
    _time.set_source(lambda: moments[0] if moments else time.time())
    yield moments
    _time.set_source(None)


# ---- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_payload",
    [
        CLIENT_64["queue_default_perform_async"],
        CLIENT_64["schedule_member_perform_in"],
        *CLIENT_64["queue_default_after_bulk"],
        SETS_64["retry_members_with_scores"][0][0],
        SETS_64["dead_members_with_scores"][0][0],
        V7["queue_payload"],
        V7["retry_member"][0],
        V8["queue_payload"],
        V8["retry_member"][0],
    ],
)
def test_reads_payloads_of_every_version(raw_payload: str) -> None:
    job = wire.loads(raw_payload)
    assert job["class"] in ("FixJob", "FailJob", "DieJob", "HardJob", "FailingJob")
    assert isinstance(job["args"], list) and len(job["jid"]) == 24
    created = _time.to_datetime(job["created_at"])
    assert created is not None and created.year == 2026  # ms read as ms, seconds as seconds


def test_a_timestamp_reads_the_same_as_float_seconds_and_integer_milliseconds() -> None:
    seven, eight = wire.loads(V7["queue_payload"]), wire.loads(V8["queue_payload"])
    assert isinstance(seven["created_at"], float) and isinstance(eight["created_at"], int)
    assert _time.to_datetime(seven["created_at"]) == _time.to_datetime(eight["created_at"])
    assert _time.to_datetime(seven["enqueued_at"]) == _time.to_datetime(eight["enqueued_at"])


def test_decodes_backtraces_as_6_4_wrote_them_and_as_7_2_and_later_write_them() -> None:
    with_newlines = json.loads(SETS_64["retry_members_with_scores"][0][0])["error_backtrace"]
    assert "\n" in with_newlines
    assert wire.decode_backtrace(with_newlines) == API_64["retry_set"][0]["error_backtrace_decoded"]
    for spec in (V7, V8):
        strict = json.loads(spec["retry_member"][0])["error_backtrace"]
        assert "\n" not in strict and wire.decode_backtrace(strict) == spec["error_backtrace_decoded"]
    # and what we write is strict base64 that decodes back
    lines = ["a.py:1:in `f'", "b.py:2:in `g'"]
    assert wire.decode_backtrace(wire.encode_backtrace(lines)) == lines


@pytest.mark.parametrize("version", ["6", "7", "8"])
def test_reads_process_records_and_running_jobs_of_every_version(
    version: str, store: RedisStore, raw: redis.Redis
) -> None:
    # given a process record and its running jobs as Sidekiq <version> writes them
    identity, fields, suffix, running = RECORDS[version]
    raw.sadd("processes", identity)
    raw.hset(identity, mapping=fields)
    raw.hset(identity + suffix, mapping=running)

    # when sidequest's operator side reads them
    [record] = store.processes()
    [(who, tid, work)] = store.work()

    # then concurrency comes from info (6, 7) or from the 8.1.2+ hash field, and the job is readable
    assert (record.identity, record.busy, record.quiet) == (identity, 1, False)
    assert record.concurrency == (3 if version == "6" else 5)
    assert record.rss_kb == int(fields["rss"]) and record.beat == float(fields["beat"])
    assert (who, tid) == (identity, next(iter(running)))
    job = wire.loads(json.loads(work)["payload"])
    assert job["jid"] and job["class"] in ("SlowJob", "HardJob")


# ---- writing ---------------------------------------------------------------------------------------


def test_perform_async_writes_the_bytes_sidekiq_6_4_wrote(store: RedisStore, clock: list[float]) -> None:
    written = CLIENT_64["queue_default_perform_async"]
    fixture = json.loads(written)
    # the clock is stopped, so enqueued_at equals created_at; every other byte is Sidekiq's
    expected = written.replace(repr(fixture["enqueued_at"]), repr(fixture["created_at"]))
    clock.append(fixture["created_at"])
    sidequest.enqueue("FixJob", fixture["args"], jid=fixture["jid"])
    assert store.queue_range("default", 0, -1) == [expected]


def test_perform_in_writes_the_schedule_member_sidekiq_6_4_wrote(
    store: RedisStore, clock: list[float]
) -> None:
    expected = CLIENT_64["schedule_member_perform_in"]
    fixture = json.loads(expected)
    clock.append(fixture["created_at"])
    run_at = fixture["created_at"] + CLIENT_64["schedule_score_minus_created_at"]
    sidequest.enqueue("FixJob", fixture["args"], queue="low", jid=fixture["jid"], at=run_at)
    assert store.set_range("schedule", 0, -1) == [(run_at, expected)]


def test_a_worker_runs_sidekiq_7_and_8_payloads_and_writes_float_seconds(
    interop: Interop, raw: redis.Redis
) -> None:
    # given 7.x and 8.x jobs in a queue, and an 8.x retry (integer-millisecond timestamps) that is due
    for spec in (V7, V8):
        raw.sadd("queues", "default")
        raw.lpush("queue:default", spec["queue_payload"])
    retry_member = V8["retry_member"][0]
    raw.zadd("retry", {retry_member: time.time() - 1})

    # when a sidequest worker runs until nothing is left
    assert interop.wait(interop.worker("--burst")) == 0

    # then it ran all three with their arguments
    ran = {row["jid"]: row["args"] for row in interop.ledger()}
    assert ran == {"7a" * 12: ["v7", 1], "8a" * 12: ["v8", 1], "8b" * 12: [7]}
    # and the failed 8.x job is back in the retry set: its own fields untouched, ours in float seconds
    [(member, score)] = raw.zrange("retry", 0, -1, withscores=True)
    job = json.loads(member)
    original = json.loads(retry_member)
    assert job["created_at"] == original["created_at"] and job["failed_at"] == original["failed_at"]
    assert isinstance(job["retried_at"], float) and isinstance(job["enqueued_at"], float)
    assert job["retry_count"] == 1 and job["error_class"] == "ValueError"
    assert job["retried_at"] + 16 <= score <= job["retried_at"] + 16 + 18 + 1  # 1**4 + 15 + jitter


@pytest.mark.parametrize("version", ["6", "7", "8"])
def test_each_version_setting_writes_the_process_record_that_version_reads(
    version: str, interop: Interop, store: RedisStore, raw: redis.Redis
) -> None:
    # given a sidequest worker set up for Sidekiq <version>, running a job
    release = interop.tmp_path / "release"
    sidequest.enqueue("SleepyJob", [str(release)])
    worker = interop.worker("--sidekiq-version", version, "-c", "4")
    wait_for(lambda: len(store.work()) == 1, what="the running job")
    [identity] = raw.smembers("processes")
    fields = raw.hgetall(identity)
    info = json.loads(fields["info"])
    _, expected_fields, suffix, _ = RECORDS[version]
    expected_info = json.loads(expected_fields["info"])

    # then the hash has the fields that version writes, and info the keys it reads
    assert set(fields) == set(expected_fields)
    if version == "6":
        assert list(info) == list(expected_info)  # same keys, same order as Sidekiq 6.4.1
    else:
        assert set(expected_info) <= set(info)
        assert info["weights"] == [{"default": 0}] and info["embedded"] is False  # one queue: strict
    if version == "8":
        assert fields["concurrency"] == "4"
        assert info["capsules"] == {
            "default": {"concurrency": 4, "mode": "strict", "weights": {"default": 0}}
        }
    assert info["concurrency"] == 4  # kept in info too: readers before 8.1.2 take it from there
    assert isinstance(info["started_at"], float) and float(fields["beat"]) > info["started_at"]
    assert fields["quiet"] == "false" and int(fields["rss"]) > 0

    # and the running job sits in the hash that version's Workers reads, shaped like Sidekiq's
    work_key = identity + suffix
    assert raw.exists(work_key) and (version == "6" or not raw.exists(identity + ":workers"))
    [value] = raw.hvals(work_key)
    work = json.loads(value)
    assert list(work) == ["queue", "payload", "run_at"] and isinstance(work["run_at"], int)
    job = json.loads(work["payload"])  # a JSON string inside JSON, as 6.4+ writes it
    assert job["class"] == "SleepyJob" and isinstance(job["created_at"], float)
    assert isinstance(job["enqueued_at"], float)
    release.touch()
    assert interop.stop(worker) == 0


@pytest.mark.parametrize(
    ("queues", "strict", "weights", "mode"),
    [
        ((("default", 1),), False, {"default": 0}, "strict"),
        ((("critical", 1), ("default", 1)), True, {"critical": 0, "default": 0}, "strict"),
        ((("critical", 1), ("default", 1)), False, {"critical": 1, "default": 1}, "random"),
        ((("critical", 3), ("default", 1)), False, {"critical": 3, "default": 1}, "weighted"),
    ],
)
def test_info_reports_queue_weights_and_mode_as_sidekiq_8_does(
    queues: tuple[tuple[str, int], ...], strict: bool, weights: dict[str, int], mode: str
) -> None:
    settings = Settings(sidekiq_version="8", queues=queues, strict=strict, concurrency=7)
    info = json.loads(process_info(Config(settings=settings), "host:1:abc", 1795827752.5))
    assert info["weights"] == [weights] and info["queues"] == list(weights)
    assert info["capsules"] == {"default": {"concurrency": 7, "mode": mode, "weights": weights}}
    assert info["started_at"] == 1795827752.5


def test_sidekiq_6_peers_get_its_5_second_heartbeat_unless_one_is_chosen() -> None:
    assert beat_interval(Settings(sidekiq_version="6")) == 5.0
    assert beat_interval(Settings(sidekiq_version="7")) == 10.0
    assert beat_interval(Settings(sidekiq_version="8")) == 10.0
    assert beat_interval(Settings(sidekiq_version="6", heartbeat_interval=2.0)) == 2.0


def test_a_worker_continues_a_retry_sidekiq_6_4_started(interop: Interop, raw: redis.Redis) -> None:
    # given the retry entry real Sidekiq 6.4 wrote after FailJob's first failure, now due
    member, _ = SETS_64["retry_members_with_scores"][0]
    raw.zadd("retry", {member: time.time() - 1})

    # when a sidequest worker serving FailJob runs it and it fails again
    assert interop.wait(interop.worker("-q", "critical", "--burst")) == 0

    # then the entry carries on where Sidekiq left it, readable by Sidekiq 6.4 itself
    original = json.loads(member)
    assert [row["jid"] for row in interop.ledger()] == [original["jid"]]
    [entry] = interop.api("retries")
    assert (entry["jid"], entry["queue"], entry["retry_count"]) == (original["jid"], "critical", 1)
    assert (entry["error_class"], entry["error_message"]) == ("ValueError", "boom 7 again")
    assert entry["failed_at"] == original["failed_at"]
    assert 0 < len(entry["error_backtrace"]) <= 5  # the job's own backtrace: 5 option
    [(stored, _)] = raw.zrange("retry", 0, -1, withscores=True)
    assert isinstance(json.loads(stored)["retried_at"], float)


class ArgumentError(Exception):
    """Named like the Ruby exception in the 6.4 fixture, so error_class matches byte for byte."""


def _as_enqueued(member: str) -> dict[str, Any]:
    """The job as it was in its queue before it failed: the set member without the failure fields."""
    job = json.loads(member)
    for key in ("error_message", "error_class", "failed_at", "retry_count", "error_backtrace"):
        job.pop(key, None)
    return job


def test_a_first_failure_writes_the_retry_entry_sidekiq_6_4_wrote() -> None:
    member, score = SETS_64["retry_members_with_scores"][0]
    written = json.loads(member)
    decision = retry.decide(
        _as_enqueued(member), ArgumentError("boom 7"), None, Config(), written["failed_at"], instance=None
    )
    assert decision.outcome == "retry"
    ours = decision.payload
    # same fields in the same order; the backtrace is this test's own (base64 of zlib of JSON, 5 lines)
    assert len(wire.decode_backtrace(ours["error_backtrace"])) <= 5
    ours["error_backtrace"] = written["error_backtrace"]
    assert wire.dumps(ours) == member
    assert written["failed_at"] + 15 <= decision.score <= written["failed_at"] + 24
    assert written["failed_at"] + 15 <= score <= written["failed_at"] + 24


def test_a_job_with_retry_0_writes_the_dead_entry_sidekiq_6_4_wrote() -> None:
    member, _ = SETS_64["dead_members_with_scores"][0]
    written = json.loads(member)

    ruby_runtime_error = type("RuntimeError", (Exception,), {})  # error_class is the class's name
    decision = retry.decide(
        _as_enqueued(member),
        ruby_runtime_error("fatal 8"),
        None,
        Config(),
        written["failed_at"],
        instance=None,
    )
    assert decision.outcome == "dead"
    assert wire.dumps(decision.payload) == member
