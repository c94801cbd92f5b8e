"""Assertions on captured jobs and on job options, and perform_job; failures explain what was enqueued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidequest import JobArgumentError, get_config, job, testing
from sidequest.job import Job
from sidequest.testing import (
    all_enqueued,
    assert_enqueued,
    assert_job_option,
    assert_job_options,
    assert_processed_in,
    assert_retryable,
    assert_saves_backtrace,
    at_least,
    at_most,
    clock,
    exactly,
    perform_job,
    refute_enqueued,
)

MOMENT = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@job(queue="mailers", retry=5, tags=["email"])
def send_email(to: str, template: str = "welcome") -> str:
    return f"{template} -> {to}"


@job
def ping() -> None:
    return None


@job
def echo(*args: Any) -> None:
    return None


@job(retry=False, backtrace=20)
def audit(entry: dict[str, Any]) -> dict[str, Any]:
    return entry


class Report(Job, queue="reports", backtrace=True):
    def perform(self, month: str) -> dict[str, Any]:
        return {"month": month, "jid": self.jid, "retry_count": self.payload.get("retry_count")}


@pytest.fixture(autouse=True)
def _fake_at_a_fixed_time() -> None:
    clock.freeze(MOMENT)
    testing.fake()


def _failure(check: Callable[[], object]) -> str:
    with pytest.raises(AssertionError) as caught:
        check()
    return str(caught.value)


# ---- assert_enqueued ------------------------------------------------------------------------------
def test_assert_enqueued_matches_on_job_args_and_queue_and_returns_the_matches() -> None:
    send_email.perform_async("ada@example.com")
    send_email.perform_async("bob@example.com", "reset")

    matches = assert_enqueued(send_email, args=["bob@example.com", "reset"], queue="mailers")

    assert [m["args"] for m in matches] == [["bob@example.com", "reset"]]
    assert_enqueued(send_email)
    assert_enqueued()  # any job at all
    assert_enqueued("tests.testing.test_assertions.send_email", args=("ada@example.com",))


def test_args_accept_unittest_mock_any_for_one_argument() -> None:
    send_email.perform_async("ada@example.com", "reset")
    assert_enqueued(send_email, args=[ANY, "reset"])


def test_assert_enqueued_checks_the_schedule_with_at_in_and_immediately() -> None:
    send_email.perform_in(timedelta(hours=1), "later@example.com")
    send_email.perform_async("now@example.com")

    assert_enqueued(send_email, args=["later@example.com"], in_=3600)
    assert_enqueued(send_email, args=["later@example.com"], in_=timedelta(hours=1))
    assert_enqueued(send_email, args=["later@example.com"], at=MOMENT + 3600)
    assert_enqueued(send_email, args=["later@example.com"], at=datetime(2027, 1, 15, 9, tzinfo=UTC))
    assert_enqueued(send_email, args=["now@example.com"], immediately=True)
    refute_enqueued(send_email, args=["later@example.com"], immediately=True)
    refute_enqueued(send_email, in_=60)


def test_count_takes_numbers_and_ranges() -> None:
    for _ in range(3):
        ping.perform_async()

    assert_enqueued(ping, count=3)
    assert_enqueued(ping, count=exactly(3))
    assert_enqueued(ping, count=at_least(2))
    assert_enqueued(ping, count=at_most(3))
    assert_enqueued(send_email, count=0)
    message = _failure(lambda: assert_enqueued(ping, count=at_most(2)))
    assert "to be enqueued at most twice, but 3 times matched" in message


def test_other_keywords_compare_payload_fields() -> None:
    send_email.perform_async("ada@example.com")
    send_email.set(retry=1).perform_async("bob@example.com")

    assert_enqueued(send_email, retry=5, tags=["email"], count=1)
    assert_enqueued(send_email, args=["bob@example.com"], retry=1)
    refute_enqueued(send_email, retry=False)


def test_assert_enqueued_failure_lists_what_was_enqueued_and_how_it_differs() -> None:
    send_email.perform_async("ada@example.com")
    send_email.set(queue="critical").perform_in(60, "bob@example.com")

    message = _failure(lambda: assert_enqueued(send_email, args=["carol@example.com"], queue="mailers"))

    assert message == (
        "expected tests.testing.test_assertions.send_email with args ['carol@example.com'] on queue 'mailers' "
        "to be enqueued at least once, but no enqueued job matched.\n"
        "tests.testing.test_assertions.send_email enqueued (2):\n"
        "  1. tests.testing.test_assertions.send_email on 'mailers' args=['ada@example.com'] immediately"
        "  <- differs in: args\n"
        "  2. tests.testing.test_assertions.send_email on 'critical' args=['bob@example.com'] "
        "at 2027-01-15T08:01:00.000Z (in 60s)  <- differs in: args, queue"
    )


def test_failure_shows_the_payload_fields_that_were_asked_about() -> None:
    send_email.perform_async("ada@example.com")
    message = _failure(lambda: assert_enqueued(send_email, retry=3))
    assert "retry=5  <- differs in: retry" in message
    message = _failure(lambda: assert_enqueued(send_email, unique_for=60))
    assert "unique_for=(absent)" in message


def test_failure_when_only_other_jobs_were_enqueued_says_so() -> None:
    ping.perform_async()
    message = _failure(lambda: assert_enqueued(send_email))
    assert "No tests.testing.test_assertions.send_email job was enqueued; other jobs enqueued (1):" in message
    assert "1. tests.testing.test_assertions.ping on 'default' args=[] immediately" in message


def test_failure_outside_fake_mode_points_at_the_fixture() -> None:
    testing.disable()
    message = _failure(lambda: assert_enqueued(send_email))
    assert "No job was enqueued at all. sidequest is in disabled mode, which captures nothing" in message
    assert "sidequest_fake" in message


def test_refute_enqueued_lists_the_offending_jobs() -> None:
    send_email.perform_async("ada@example.com")
    refute_enqueued(ping)
    refute_enqueued(send_email, args=["bob@example.com"])

    message = _failure(lambda: refute_enqueued(send_email, queue="mailers"))

    assert message.startswith(
        "expected tests.testing.test_assertions.send_email on queue 'mailers' not to be enqueued, but once was:\n"
    )
    assert "1. tests.testing.test_assertions.send_email on 'mailers' args=['ada@example.com']" in message


def test_all_enqueued_filters_by_job_queue_args_and_fields() -> None:
    send_email.perform_async("ada@example.com")
    send_email.set(queue="critical").perform_async("bob@example.com")
    ping.perform_async()

    assert len(all_enqueued()) == 3
    assert [p["args"] for p in all_enqueued(send_email)] == [["ada@example.com"], ["bob@example.com"]]
    assert [p["class"] for p in all_enqueued(queue="default")] == [ping.name]
    assert [p["queue"] for p in all_enqueued(send_email, args=["bob@example.com"])] == ["critical"]


def test_bad_expectations_are_refused() -> None:
    with pytest.raises(TypeError, match="at= or in_="):
        assert_enqueued(send_email, at=MOMENT, in_=5)
    with pytest.raises(TypeError, match="args must be a list or tuple"):
        assert_enqueued(send_email, args="ada@example.com")
    with pytest.raises(TypeError, match="expected a job"):
        assert_enqueued(42)  # type: ignore[arg-type]


# ---- job options ----------------------------------------------------------------------------------
def test_retryable_true_false_and_a_count() -> None:
    assert_retryable(send_email)
    assert_retryable(send_email, 5)
    assert_retryable(audit, False)
    assert_retryable(ping, 25)  # retry=True means max_retries
    assert_retryable(send_email.set(retry=2), 2)

    message = _failure(lambda: assert_retryable(send_email, 3))
    assert (
        message
        == "expected tests.testing.test_assertions.send_email to be retried 3 times, but its retry option is 5"
    )
    message = _failure(lambda: assert_retryable(ping, False))
    assert message.endswith("but its retry option is True (max_retries, 25)")


def test_processed_in() -> None:
    assert_processed_in(send_email, "mailers")
    assert_processed_in(Report, "reports")
    assert_processed_in(ping, "default")
    message = _failure(lambda: assert_processed_in(Report, "default"))
    assert (
        message
        == "expected tests.testing.test_assertions.Report to be processed in queue 'default', but its queue is 'reports'"
    )


def test_saves_backtrace() -> None:
    assert_saves_backtrace(Report)
    assert_saves_backtrace(audit, 20)
    assert_saves_backtrace(send_email, False)
    message = _failure(lambda: assert_saves_backtrace(send_email))
    assert "to have backtrace=True, but its backtrace option is False" in message


def test_job_options_by_name() -> None:
    assert_job_option(send_email, "tags", ["email"])
    assert_job_options(send_email, queue="mailers", retry=5)
    message = _failure(lambda: assert_job_options(send_email, queue="default", dead=False))
    assert "queue: expected 'default', got 'mailers'; dead: expected False, not set" in message
    assert "Its options are {'queue': 'mailers', 'retry': 5, 'tags': ['email']}" in message


# ---- perform_job ----------------------------------------------------------------------------------
def test_perform_job_runs_the_job_and_returns_its_result() -> None:
    assert perform_job(send_email, "ada@example.com", "reset") == "reset -> ada@example.com"
    assert testing.all_jobs() == []  # nothing was enqueued


def test_perform_job_delivers_arguments_after_a_json_round_trip() -> None:
    assert perform_job(audit, {"ids": (1, 2)}) == {"ids": [1, 2]}


def test_perform_job_fails_like_production_on_a_non_json_argument() -> None:
    with pytest.raises(JobArgumentError, match=r"argument 1 of .*audit is a datetime.*isoformat\(\)"):
        perform_job(audit, datetime.now(UTC))
    with pytest.raises(JobArgumentError, match=r"argument 1\['at'\] of .*audit is a datetime"):
        perform_job(audit, {"at": datetime.now(UTC)})


def test_perform_job_gives_class_jobs_their_payload_and_takes_payload_fields() -> None:
    result = perform_job(Report, "2027-01", retry_count=2)
    assert result["month"] == "2027-01"
    assert len(result["jid"]) == 24
    assert result["retry_count"] == 2


def test_perform_job_runs_server_middleware_and_propagates_errors() -> None:
    seen: list[str] = []

    class Audit:
        def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
            seen.append(queue)
            return call_next()

    get_config().server_middleware.add(Audit)
    perform_job(send_email, "ada@example.com")
    assert seen == ["mailers"]

    @job(
        name="tests.testing.test_assertions.test_perform_job_runs_server_middleware_and_propagates_errors.broken"
    )
    def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        perform_job(broken)


# ---- any JSON-native arguments ---------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_values, max_size=4))
def test_whatever_json_arguments_are_enqueued_the_same_arguments_match(args: list[Any]) -> None:
    testing.clear_all()
    echo.perform_async(*args)

    assert_enqueued(echo, args=args, count=1)
    assert perform_job(audit, {"args": args}) == {"args": testing.all_jobs()[0]["args"]}
