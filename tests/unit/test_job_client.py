"""The job API users write: decorators, classes, enqueue helpers, options and client middleware."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import sidequest
from sidequest import Job, job, registry
from sidequest.errors import ConfigError, JobArgumentError
from sidequest.stores.memory import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    sidequest.get_config().use_store(memory)
    return memory


def queued(store: MemoryStore, queue: str = "default") -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in reversed(store.queue_range(queue, 0, -1))]


@job(queue="mailers", retry=5)
def send_email(body: str, to: str) -> None: ...


def test_function_job_enqueues_sidekiq_payload_and_returns_jid(store: MemoryStore) -> None:
    jid = send_email.perform_async("hi", "a@example.com")
    [payload] = queued(store, "mailers")
    assert payload["jid"] == jid
    assert payload["class"] == f"{__name__}.send_email"
    assert (
        payload["args"] == ["hi", "a@example.com"] and payload["retry"] == 5 and payload["queue"] == "mailers"
    )
    assert isinstance(payload["created_at"], float) and isinstance(payload["enqueued_at"], float)
    assert store.queue_names() == ["mailers"]


def test_plain_call_runs_now_in_process(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_plain_call_runs_now_in_process.double")
    def double(x: int) -> int:
        return x * 2

    assert double(21) == 42
    assert store.queue_names() == []


def test_class_job_with_ruby_name_and_options(store: MemoryStore) -> None:
    class HardJob(Job, name="HardJob"):
        queue = "infra"
        retry = 3

        def perform(self, zone: str) -> None: ...

    HardJob.perform_async("example.com")
    [payload] = queued(store, "infra")
    assert payload["class"] == "HardJob" and payload["retry"] == 3
    assert registry.lookup("HardJob").target is HardJob
    registry.unregister("HardJob")


def test_perform_in_and_perform_at_go_to_the_schedule_set(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_perform_in_and_perform_at_go_to_the_schedule_set.later")
    def later(x: int) -> None: ...

    before = time.time()
    later.perform_in(300, 1)
    later.perform_in(timedelta(minutes=10), 2)
    later.perform_at(datetime.now(UTC) + timedelta(hours=1), 3)
    entries = store.set_range("schedule", 0, -1)
    assert [json.loads(raw)["args"] for _, raw in entries] == [[1], [2], [3]]
    assert before + 299 < entries[0][0] < time.time() + 301
    # Sidekiq: schedule members carry neither "at" nor "enqueued_at"
    assert all("enqueued_at" not in json.loads(raw) and "at" not in json.loads(raw) for _, raw in entries)


def test_past_or_zero_delay_enqueues_now(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_past_or_zero_delay_enqueues_now.now_job")
    def now_job() -> None: ...

    now_job.perform_in(0)
    now_job.perform_at(time.time() - 10)
    assert store.queue_size("default") == 2 and store.set_size("schedule") == 0


def test_naive_datetime_is_refused(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_naive_datetime_is_refused.at_job")
    def at_job() -> None: ...

    with pytest.raises(ValueError, match="naive datetime"):
        at_job.perform_at(datetime.now() + timedelta(hours=1))


def test_set_overrides_options_for_one_call(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_set_overrides_options_for_one_call.task", queue="low")
    def task() -> None: ...

    task.set(queue="critical", retry=False).perform_async()
    task.perform_async()
    assert queued(store, "critical")[0]["retry"] is False
    assert queued(store, "low")[0]["retry"] is True


def test_perform_bulk_returns_aligned_jids_in_one_push(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_perform_bulk_returns_aligned_jids_in_one_push.bulk")
    def bulk(a: str, b: str) -> None: ...

    jids = bulk.perform_bulk([("a", "x@y"), ("b", "z@y")])
    payloads = queued(store)
    assert [p["jid"] for p in payloads] == jids and [p["args"] for p in payloads] == [
        ["a", "x@y"],
        ["b", "z@y"],
    ]


def test_bad_argument_enqueues_nothing(store: MemoryStore) -> None:
    @job(name="tests.unit.test_job_client.test_bad_argument_enqueues_nothing.picky")
    def picky(x: Any) -> None: ...

    with pytest.raises(JobArgumentError, match="bulk entry 2: argument 1 of .*picky is a object"):
        picky.perform_bulk([(1,), (object(),)])
    assert store.queue_size("default") == 0


def test_misspelled_option_fails_at_definition_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="did you mean 'retry'"):

        @job(
            name="tests.unit.test_job_client.test_misspelled_option_fails_at_definition_with_a_hint.typo",
            retyr=3,
        )
        def typo() -> None: ...


def test_invalid_option_values_are_refused() -> None:
    def plain() -> None: ...

    with pytest.raises(ConfigError, match="queue option"):
        job(name="tests.unit.plain", queue="has space")(plain)
    with pytest.raises(ConfigError, match="retry option"):
        job(name="tests.unit.plain", retry=-1)(plain)


class StampMiddleware:
    options = frozenset({"stamp"})

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        payload["stamp"] = payload.get("stamp", "client")
        return call_next()


class BlockMiddleware:
    options: frozenset[str] = frozenset()

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        return None if payload["args"] == ["blocked"] else call_next()


def test_client_middleware_edits_payloads_and_can_stop_a_push(store: MemoryStore) -> None:
    config = sidequest.get_config()
    config.client_middleware.add(StampMiddleware)
    config.client_middleware.add(BlockMiddleware)

    @job(
        name="tests.unit.test_job_client.test_client_middleware_edits_payloads_and_can_stop_a_push.mw",
        stamp="declared",
    )  # an option owned by a middleware is accepted
    def mw(x: str) -> None: ...

    assert mw.perform_async("blocked") is None
    assert mw.perform_async("ok") is not None
    [payload] = queued(store)
    assert payload["stamp"] == "declared" and payload["args"] == ["ok"]


def test_chain_ordering_operations() -> None:
    chain = sidequest.middleware.Chain()
    chain.add(StampMiddleware)
    chain.prepend(BlockMiddleware)
    assert list(chain) == [BlockMiddleware, StampMiddleware]
    chain.remove(BlockMiddleware)
    chain.insert_before(StampMiddleware, BlockMiddleware)
    assert list(chain) == [BlockMiddleware, StampMiddleware]
    chain.insert_after(StampMiddleware, BlockMiddleware)
    assert list(chain) == [StampMiddleware, BlockMiddleware]
    with pytest.raises(ConfigError):
        chain.insert_after(int, StampMiddleware)


def test_enqueue_by_name_for_a_ruby_job(store: MemoryStore) -> None:
    jid = sidequest.enqueue("HardJob", [1, "two"], queue="critical")
    [payload] = queued(store, "critical")
    assert payload["class"] == "HardJob" and payload["jid"] == jid and payload["retry"] is True
    assert registry.find("HardJob") is None


def test_raw_push_keeps_created_at_and_jid_like_sidekiq(store: MemoryStore) -> None:
    jid = sidequest.Client().push(
        {"class": "HardJob", "args": [1], "jid": "a" * 24, "created_at": 1795827751.5}
    )
    [payload] = queued(store)
    assert jid == "a" * 24 and payload["created_at"] == 1795827751.5
    assert list(payload)[-3:] == ["jid", "created_at", "enqueued_at"]
