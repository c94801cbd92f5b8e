"""Retry decisions follow Sidekiq: fields, backoff, hooks, exhaustion, dead set and death handlers."""

from __future__ import annotations

import random
from typing import Any

import pytest

import sidequest
from sidequest import Job, job, registry
from sidequest.errors import SidequestError
from sidequest.payload import decode_backtrace
from sidequest.runtime.retry import backoff, decide


def fresh(**fields: Any) -> dict[str, Any]:
    return {
        "retry": True,
        "queue": "default",
        "args": [1],
        "class": "X",
        "jid": "a" * 24,
        "created_at": 1.0,
        **fields,
    }


def test_backoff_is_count_to_the_fourth_plus_15_plus_jitter() -> None:
    rng = random.Random(7)
    for count in (0, 1, 5, 24):
        delay = backoff(count, rng=rng)
        assert count**4 + 15 <= delay <= count**4 + 15 + 9 * (count + 1)
        assert (delay - count**4 - 15) % (count + 1) == 0


def test_first_failure_sets_failed_at_and_retry_count_zero() -> None:
    job_payload = fresh()
    decision = decide(job_payload, ValueError("boom"), None, sidequest.get_config(), 1000.0, instance=None)
    assert decision.outcome == "retry"
    assert job_payload["retry_count"] == 0 and job_payload["failed_at"] == 1000.0
    assert job_payload["error_class"] == "ValueError" and job_payload["error_message"] == "boom"
    assert 1000 + 15 <= decision.score <= 1000 + 24
    assert "retried_at" not in job_payload


def test_later_failures_set_retried_at_and_count_up() -> None:
    job_payload = fresh(retry_count=3, failed_at=10.0)
    decide(job_payload, ValueError("again"), None, sidequest.get_config(), 2000.0, instance=None)
    assert (
        job_payload["retry_count"] == 4
        and job_payload["retried_at"] == 2000.0
        and job_payload["failed_at"] == 10.0
    )


def test_retry_limit_sends_to_dead_and_runs_death_handlers() -> None:
    seen: list[tuple[str, str]] = []
    config = sidequest.get_config()
    config.death_handlers.append(lambda payload, exc: seen.append((payload["jid"], str(exc))))
    decision = decide(fresh(retry=2, retry_count=1), ValueError("last"), None, config, 5.0, instance=None)
    assert decision.outcome == "dead" and seen == [("a" * 24, "last")]


def test_retry_zero_is_dead_on_first_failure_and_retry_false_is_dropped() -> None:
    config = sidequest.get_config()
    assert decide(fresh(retry=0), ValueError(), None, config, 1.0, instance=None).outcome == "dead"
    assert decide(fresh(retry=False), ValueError(), None, config, 1.0, instance=None).outcome == "drop"
    assert (
        decide(fresh(dead=False, retry=0), ValueError(), None, config, 1.0, instance=None).outcome == "drop"
    )


def test_retry_queue_moves_retries_to_another_queue() -> None:
    job_payload = fresh(retry_queue="slow")
    decide(job_payload, ValueError(), None, sidequest.get_config(), 1.0, instance=None)
    assert job_payload["queue"] == "slow"


def test_error_message_is_truncated_to_10000_chars() -> None:
    job_payload = fresh()
    decide(job_payload, ValueError("x" * 20_000), None, sidequest.get_config(), 1.0, instance=None)
    assert len(job_payload["error_message"]) == 10_000


def test_backtrace_option_stores_first_n_lines() -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise RuntimeError("deep")
        deep(n - 1)

    try:
        deep(5)
    except RuntimeError as exc:
        error = exc
    job_payload = fresh(backtrace=3)
    decide(job_payload, error, None, sidequest.get_config(), 1.0, instance=None)
    lines = decode_backtrace(job_payload["error_backtrace"])
    assert len(lines) == 3 and "in `deep'" in lines[0]


class Hooked(Job, register=False):
    answers: list[Any] = []
    exhausted: list[str] = []

    def perform(self) -> None: ...

    def retry_in(self, count: int, exc: BaseException) -> Any:
        return self.answers[0]

    def retries_exhausted(self, payload: dict[str, Any], exc: BaseException) -> Any:
        self.exhausted.append(payload["jid"])
        return None


@pytest.mark.parametrize(
    ("answer", "outcome"), [(60, "retry"), ("kill", "dead"), ("discard", "discard"), (None, "retry")]
)
def test_retry_in_hook(answer: Any, outcome: str) -> None:
    Hooked.answers = [answer]
    Hooked.exhausted = []
    job_payload = fresh()
    instance = Hooked.definition.instantiate(job_payload)
    decision = decide(
        job_payload, ValueError(), Hooked.definition, sidequest.get_config(), 100.0, instance=instance
    )
    assert decision.outcome == outcome
    if answer == 60:
        assert 160 <= decision.score <= 169
    if answer == "kill":
        assert Hooked.exhausted == ["a" * 24]


def test_function_job_hooks() -> None:
    exhausted: list[Any] = []

    @job(
        name="tests.runtime.test_retry.test_function_job_hooks.flaky",
        retry=1,
        retry_in=lambda count, exc: 5,
        retries_exhausted=lambda payload, exc: exhausted.append(str(exc)),
    )
    def flaky() -> None: ...

    definition = registry.lookup(flaky.name)
    first = decide(
        fresh(retry=1), ValueError("one"), definition, sidequest.get_config(), 0.0, instance=definition
    )
    assert first.outcome == "retry" and 5 <= first.score <= 14
    second = decide(
        first.payload, ValueError("two"), definition, sidequest.get_config(), 0.0, instance=definition
    )
    assert second.outcome == "dead" and exhausted == ["two"]


def test_retry_in_zero_means_retry_now() -> None:
    Hooked.answers = [0]
    job_payload = fresh()
    instance = Hooked.definition.instantiate(job_payload)
    decision = decide(
        job_payload, ValueError(), Hooked.definition, sidequest.get_config(), 100.0, instance=instance
    )
    assert (decision.outcome, decision.score) == ("retry", 100.0)


@pytest.mark.parametrize("answer", ["kil", -5, [1], True])
def test_an_unknown_retry_in_answer_is_reported_and_the_default_backoff_used(answer: Any) -> None:
    reported: list[tuple[BaseException, str]] = []
    config = sidequest.get_config()
    config.error_handlers.append(lambda exc, context: reported.append((exc, context["context"])))
    Hooked.answers = [answer]
    job_payload = fresh()
    instance = Hooked.definition.instantiate(job_payload)
    decision = decide(job_payload, ValueError(), Hooked.definition, config, 100.0, instance=instance)
    assert decision.outcome == "retry" and 115 <= decision.score <= 124
    [(error, context)] = reported
    assert isinstance(error, SidequestError) and context == "retry_in hook returned an unknown answer"
    assert repr(answer) in str(error) and "Hooked" in str(error) and '"kill"' in str(error)
