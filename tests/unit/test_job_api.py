"""Every way in checks options, queue names, times and arguments the same way, before anything is stored."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

import sidequest
from sidequest import Job, job, registry
from sidequest.errors import ConfigError, JobArgumentError, ScheduleError, UnknownJobError
from sidequest.stores.memory import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    sidequest.get_config().use_store(memory)
    return memory


def stored(store: MemoryStore) -> int:
    return sum(store.queue_size(q) for q in store.queue_names()) + store.set_size("schedule")


@job(queue="mailers")
def send_email(to: str, subject: str, locale: str = "en") -> None: ...


class Provision(Job, name="tests.unit.job_api.Provision"):
    queue = "infra"

    def perform(self, zone: str) -> None: ...


class AuditMiddleware:
    options = frozenset({"audit"})

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        return call_next()


# ---- options and queue names, on every entry point ------------------------------------------------
@pytest.mark.parametrize(
    "push",
    [
        lambda: sidequest.enqueue("HardJob", [1], queu="ruby"),
        lambda: sidequest.enqueue_bulk("HardJob", [[1], [2]], queu="ruby"),
        lambda: sidequest.Client().push({"class": "HardJob", "args": [1], "queu": "ruby"}),
        lambda: send_email.set(queu="ruby").perform_async("a", "b"),
    ],
    ids=["enqueue", "enqueue_bulk", "Client.push", "set"],
)
def test_a_misspelled_option_is_refused_with_a_hint_on_every_way_in(store: MemoryStore, push: Any) -> None:
    # when a push names an option that does not exist, then it is refused with the fix, and nothing is stored
    with pytest.raises(ConfigError, match="unknown job option 'queu' on .*did you mean 'queue'"):
        push()
    assert stored(store) == 0


@pytest.mark.parametrize(
    "push",
    [
        lambda: sidequest.enqueue("HardJob", [1], queue="has space"),
        lambda: sidequest.enqueue_bulk("HardJob", [[1]], queue="has space"),
        lambda: sidequest.Client().push({"class": "HardJob", "args": [1], "queue": "has space"}),
    ],
    ids=["enqueue", "enqueue_bulk", "Client.push"],
)
def test_a_queue_name_no_worker_accepts_is_refused_at_enqueue(store: MemoryStore, push: Any) -> None:
    with pytest.raises(ConfigError, match="queue option of HardJob is 'has space'; use .*letters, digits"):
        push()
    assert stored(store) == 0


def test_the_worker_and_the_client_share_one_queue_rule() -> None:
    # given a queue name the client refuses, then the worker's settings refuse it too, and the reverse
    with pytest.raises(ConfigError, match="queue name 'has space' is not valid"):
        sidequest.configure(queues=["has space"])
    sidequest.configure(queues=["critical:3.a-b_c"])
    assert sidequest.get_config().settings.queue_names == ["critical:3.a-b_c"]


def test_a_raw_push_keeps_the_fields_of_a_payload_read_back_from_sidekiq(store: MemoryStore) -> None:
    # given a payload as a retry entry holds it
    sidequest.Client().push(
        {"class": "HardJob", "args": [1], "retry_count": 2, "error_message": "boom", "error_class": "E"}
    )
    # then it is pushed as it is
    [raw] = store.queue_range("default", 0, -1)
    assert json.loads(raw)["retry_count"] == 2


def test_a_job_class_attribute_close_to_an_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="class attribute 'queu'; did you mean the option 'queue'"):

        class Typo(Job, name="tests.unit.job_api.Typo"):
            queu = "critical"

            def perform(self) -> None: ...


def test_a_job_class_may_keep_its_own_attributes_and_middleware_options() -> None:
    # given a middleware owning "audit" and a class with its own constants
    sidequest.get_config().server_middleware.add(AuditMiddleware)

    class Audited(Job, name="tests.unit.job_api.Audited"):
        queue = "infra"
        sidequest_options = {"audit": True}
        _retries_seen = 0
        region = "eu"

        def perform(self) -> None: ...

    # then its options are the declared ones
    assert Audited.definition.options == {"queue": "infra", "audit": True}


def test_a_middleware_option_does_not_depend_on_import_order(store: MemoryStore) -> None:
    # given a job using an option before the middleware that owns it is added (jobs module imported first)
    @job(name="tests.unit.job_api.audited", audit=True)
    def audited() -> None: ...

    # when it is pushed with no such middleware, then the push names the job and the option
    with pytest.raises(ConfigError, match="unknown job option 'audit' on tests.unit.job_api.audited"):
        audited.perform_async()
    # and once the middleware is added, the same job pushes fine
    sidequest.get_config().server_middleware.add(AuditMiddleware)
    audited.perform_async()
    [raw] = store.queue_range("default", 0, -1)
    assert json.loads(raw)["audit"] is True


def test_jid_is_a_per_push_option_not_a_definition_option(store: MemoryStore) -> None:
    with pytest.raises(ConfigError, match="'jid' is not an option of a job definition"):

        @job(name="tests.unit.job_api.fixed", jid="a" * 24)
        def fixed() -> None: ...

    assert send_email.set(jid="b" * 24).perform_async("a", "b") == "b" * 24


# ---- times -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: send_email.perform_in("10", "a", "b"),
            r"perform_in of .*send_email got '10' \(str\).*float\('10'\)",
        ),
        (
            lambda: send_email.perform_in(float("nan"), "a", "b"),
            "perform_in of .*send_email got nan; pass a finite",
        ),
        (
            lambda: send_email.perform_at(time.time() * 1000, "a", "b"),
            r"perform_at of .*send_email got .* looks like milliseconds; pass .* / 1000",
        ),
        (
            lambda: Provision.perform_at(datetime.now() + timedelta(hours=1), "z"),
            "perform_at of tests.unit.job_api.Provision got .* a naive datetime; pass an aware one",
        ),
        (
            lambda: sidequest.enqueue("HardJob", [1], at=time.time() * 1000),
            "perform_at of HardJob got .* looks like milliseconds",
        ),
        (
            lambda: send_email.perform_bulk([("a", "b")], at=time.time() * 1000),
            "looks like milliseconds",
        ),
    ],
    ids=["str delay", "nan delay", "milliseconds", "naive datetime", "enqueue at=", "perform_bulk at="],
)
def test_a_time_that_cannot_be_right_is_refused_naming_job_value_and_fix(
    store: MemoryStore, call: Any, message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        call()
    assert stored(store) == 0


def test_job_classes_bulk_enqueue_at_a_time(store: MemoryStore) -> None:
    # when a Job class bulk-enqueues with at= (function jobs always could)
    at = time.time() + 600
    Provision.perform_bulk([("a.com",), ("b.com",)], at=at)
    # then both jobs wait in the schedule set for that time
    assert [score for score, _ in store.set_range("schedule", 0, -1)] == [at, at]


# ---- arguments -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: send_email.perform_async("a"),
            r"send_email takes 2 to 3 argument\(s\) \(to, subject, locale\), got 1",
        ),
        (lambda: send_email.perform_in(5, "a", "b", "c", "d"), "send_email takes 2 to 3 argument"),
        (lambda: Provision.perform_async(), r"Provision takes 1 argument\(s\) \(zone\), got 0"),
        (
            lambda: send_email.perform_bulk([("a", "b"), ("a",)]),
            "perform_bulk entry 2: .*send_email takes 2 to 3",
        ),
        (
            lambda: send_email.perform_async(to="a", subject="b"),
            "keyword argument.* to, subject; jobs take positional JSON arguments only",
        ),
    ],
    ids=["too few", "too many", "class job", "bulk entry", "keywords"],
)
def test_a_call_that_does_not_fit_the_signature_is_refused_at_enqueue(
    store: MemoryStore, call: Any, message: str
) -> None:
    with pytest.raises(JobArgumentError, match=message):
        call()
    assert stored(store) == 0


class Holder:
    def method(self, x: int) -> None: ...


def keyword_only(*, x: int) -> None: ...


@pytest.mark.parametrize(
    ("target", "name", "message"),
    [
        (lambda x: None, "tests.unit.job_api.lam", "lambda"),
        (Holder.method, None, "method .*Holder.method"),
        (keyword_only, None, "keyword-only parameter 'x'"),
    ],
    ids=["lambda", "method", "keyword-only"],
)
def test_what_no_worker_could_call_is_refused_at_decoration(
    target: Any, name: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        job(name=name)(target) if name else job(target)


def test_a_nested_function_needs_an_explicit_name() -> None:
    # given a function defined inside another one
    def inner() -> None: ...

    # then @job alone is refused, naming the function and the fix
    with pytest.raises(
        ConfigError, match="nested function .*inner.*Define it at module level, or give it name="
    ):
        job(inner)
    # and with a name (the caller registers it itself, as tests do) it is a job
    assert job(name="tests.unit.job_api.inner")(inner).name == "tests.unit.job_api.inner"


def test_an_unknown_job_names_close_registered_jobs_without_assuming_the_cli() -> None:
    # given a registered job, looked up with a typo
    with pytest.raises(UnknownJobError) as caught:
        registry.lookup(f"{__name__}.send_emial")
    # then the message offers the registered name and says how a process gets a job
    message = str(caught.value)
    assert f"registered names close to it: {__name__}.send_email" in message
    assert "a test or script by importing it" in message and "is its module loaded" not in message
