"""Testing modes: fake keeps pushes in memory, inline runs them at once, disabled writes to the store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from sidequest import JobArgumentError, get_config, job, testing
from sidequest.client import get_delivery_override
from sidequest.job import Job
from sidequest.stores.memory import MemoryStore

ran: list[tuple[str, Any]] = []


@job(queue="mailers")
def send_email(to: str, options: Any = None) -> str:
    ran.append(("send_email", [to, options]))
    return f"sent to {to}"


@job
def explode(message: str) -> None:
    raise RuntimeError(message)


class ResizeImage(Job, queue="images", retry=3):
    def perform(self, path: str, size: int) -> int:
        ran.append(("ResizeImage", [path, size, self.jid]))
        return size * 2


@pytest.fixture(autouse=True)
def _forget_runs() -> None:
    ran.clear()


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    get_config().use_store(memory)
    return memory


class Tagging:
    """A client middleware that adds a payload field, to show fake mode sees the finished payload."""

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        payload["tenant"] = "acme"
        return call_next()


class Refusing:
    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        return None


class Recording:
    """A server middleware that records which jobs passed through it."""

    seen: list[str] = []

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        Recording.seen.append(payload["class"])
        return call_next()


# ---- switching ----------------------------------------------------------------------------------
def test_the_default_mode_is_disabled_and_installs_no_override() -> None:
    assert testing.mode() == "disabled"
    assert get_delivery_override() is None


def test_plain_calls_switch_the_mode_for_good() -> None:
    testing.fake()
    assert testing.mode() == "fake"
    testing.inline()
    assert testing.mode() == "inline"
    testing.disable()
    assert testing.mode() == "disabled"
    assert get_delivery_override() is None


def test_a_with_block_restores_the_previous_mode_even_when_the_block_raises() -> None:
    testing.inline()
    with pytest.raises(ValueError), testing.fake():
        assert testing.mode() == "fake"
        raise ValueError("boom")
    assert testing.mode() == "inline"


def test_nested_blocks_unwind_in_order() -> None:
    seen = []
    with testing.fake():
        seen.append(testing.mode())
        with testing.inline():
            seen.append(testing.mode())
            with testing.disable():
                seen.append(testing.mode())
            seen.append(testing.mode())
        seen.append(testing.mode())
    seen.append(testing.mode())
    assert seen == ["fake", "inline", "disabled", "inline", "fake", "disabled"]


# ---- fake -----------------------------------------------------------------------------------------
def test_fake_mode_captures_payloads_and_writes_nothing_to_the_store(store: MemoryStore) -> None:
    with testing.fake():
        jid = send_email.perform_async("ada@example.com", ("a", "tuple"))

    [payload] = send_email.jobs
    assert payload["jid"] == jid
    assert payload["args"] == ["ada@example.com", ["a", "tuple"]]  # after JSON: the tuple is a list
    assert payload["queue"] == "mailers"
    assert isinstance(payload["enqueued_at"], float)
    assert "at" not in payload
    assert store.queue_names() == [] and store.set_size("schedule") == 0
    assert ran == []


def test_fake_mode_keeps_scheduled_jobs_with_their_time_and_no_enqueued_at() -> None:
    with testing.fake():
        send_email.perform_in(300, "later@example.com")

    [payload] = send_email.jobs
    assert payload["at"] == pytest.approx(payload["created_at"] + 300, abs=0.1)
    assert "enqueued_at" not in payload


def test_fake_mode_rejects_a_non_json_argument_like_production_and_captures_nothing() -> None:
    with testing.fake(), pytest.raises(JobArgumentError, match="argument 2 of .*send_email is a set"):
        send_email.perform_async("ada@example.com", {"x"})
    assert send_email.jobs == []


def test_fake_mode_sees_what_client_middleware_did() -> None:
    get_config().client_middleware.add(Tagging)
    with testing.fake():
        send_email.perform_async("ada@example.com")
    assert send_email.jobs[0]["tenant"] == "acme"

    get_config().client_middleware.add(Refusing)
    with testing.fake():
        assert send_email.perform_async("again@example.com") is None
    assert len(send_email.jobs) == 1


def test_jobs_are_listed_per_job_and_overall() -> None:
    with testing.fake():
        send_email.perform_async("a@example.com")
        ResizeImage.perform_async("cat.png", 64)
        send_email.set(queue="critical").perform_async("b@example.com")

    assert [p["args"][0] for p in send_email.jobs] == ["a@example.com", "b@example.com"]
    assert [p["args"] for p in ResizeImage.jobs] == [["cat.png", 64]]
    assert testing.jobs_for("tests.testing.test_modes.send_email") == send_email.jobs
    assert [p["class"] for p in testing.all_jobs()] == [
        send_email.name,
        ResizeImage.definition.name,
        send_email.name,
    ]
    assert [p["args"][0] for p in testing.all_jobs(queue="critical")] == ["b@example.com"]


def test_bulk_pushes_are_captured_one_payload_per_job() -> None:
    with testing.fake():
        send_email.perform_bulk([["a@example.com"], ["b@example.com"]])
    assert [p["args"] for p in send_email.jobs] == [["a@example.com"], ["b@example.com"]]


def test_class_jobs_have_jobs_perform_one_drain_and_clear() -> None:
    with testing.fake():
        for size in (1, 2, 3):
            ResizeImage.perform_async("x.png", size)
        assert len(ResizeImage.jobs) == 3
        assert ResizeImage.perform_one() == 2  # the oldest job, size 1, doubled
        assert ResizeImage.drain() == 2
        assert [entry[1][1] for entry in ran] == [1, 2, 3]
        ResizeImage.perform_async("y.png", 4)
        ResizeImage.clear()
    assert ResizeImage.jobs == []


def test_captured_jobs_survive_a_mode_switch_until_cleared() -> None:
    with testing.fake():
        send_email.perform_async("a@example.com")
    with testing.inline():
        send_email.perform_async("b@example.com")
    assert len(send_email.jobs) == 1
    testing.clear_all()
    assert send_email.jobs == []


# ---- inline ---------------------------------------------------------------------------------------
def test_inline_mode_runs_the_job_at_once_with_json_arguments(store: MemoryStore) -> None:
    with testing.inline():
        send_email.perform_async("ada@example.com", ("a", "tuple"))
        ResizeImage.perform_async("cat.png", 64)

    assert ran[0] == ("send_email", ["ada@example.com", ["a", "tuple"]])
    assert ran[1][0] == "ResizeImage" and ran[1][1][:2] == ["cat.png", 64]
    assert len(ran[1][1][2]) == 24  # the job instance got its jid
    assert store.queue_names() == []
    assert send_email.jobs == []
    assert [p["class"] for p in testing.runner.performed] == [send_email.name, ResizeImage.definition.name]


def test_inline_mode_runs_scheduled_jobs_now() -> None:
    with testing.inline():
        send_email.perform_in(3600, "later@example.com")
    assert ran == [("send_email", ["later@example.com", None])]
    assert "at" in testing.runner.performed[0]


def test_inline_mode_lets_the_jobs_exception_reach_the_caller() -> None:
    with testing.inline(), pytest.raises(RuntimeError, match="kaboom"):
        explode.perform_async("kaboom")


def test_inline_mode_runs_server_middleware() -> None:
    Recording.seen = []
    get_config().server_middleware.add(Recording)
    with testing.inline():
        send_email.perform_async("ada@example.com")
    assert Recording.seen == [send_email.name]


def test_inline_mode_rejects_a_non_json_argument_before_running() -> None:
    with testing.inline(), pytest.raises(JobArgumentError):
        send_email.perform_async(object())
    assert ran == []


# ---- disabled -------------------------------------------------------------------------------------
def test_disabled_mode_writes_to_the_store(store: MemoryStore) -> None:
    with testing.fake(), testing.disable():
        send_email.perform_async("ada@example.com")
        send_email.perform_in(60, "later@example.com")
    assert store.queue_size("mailers") == 1
    assert store.set_size("schedule") == 1
    assert send_email.jobs == []


def test_the_core_never_imports_its_test_helpers() -> None:
    # given a fresh interpreter that defines and enqueues a job without importing sidequest.testing
    code = (
        "import sys, sidequest\n"
        "from sidequest import job\n"
        "@job\n"
        "def ping() -> None: ...\n"
        "sidequest.configure(url='memory://')\n"
        "ping.perform_async()\n"
        "print(sorted(m for m in sys.modules if m.startswith('sidequest.testing')))\n"
        "try:\n"
        "    ping.jobs\n"
        "except sidequest.SidequestError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # then no testing module was loaded, and a fake-mode helper says what to import
    lines = result.stdout.splitlines()
    assert lines[0] == "[]", result.stderr
    assert "ping.jobs is a fake-mode testing helper: import sidequest.testing" in lines[1]
