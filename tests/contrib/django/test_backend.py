"""The Django Tasks backend against a real sidequest store and an in-process burst worker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.test import override_settings

from sidequest.config import get_config
from sidequest.contrib.django import RUNNER, SidequestBackend, prepare_worker
from sidequest.contrib.django._compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
)
from sidequest.runtime.launcher import Launcher
from tests.support.worker import wait_for

from .app import tasks


def run_worker() -> None:
    """A real worker in this process, in burst mode: it exits once nothing is left to do."""
    prepare_worker()
    assert Launcher(get_config(), burst=True).run() == 0


def queued(queue: str = "default") -> list[dict]:
    store = get_config().store
    return [json.loads(raw) for raw in store.queue_range(queue, 0, -1)]


def test_the_backend_says_what_it_supports() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, SidequestBackend)
    assert backend.supports_defer and backend.supports_async_task
    assert backend.supports_get_result and backend.supports_priority


def test_an_enqueued_task_runs_on_a_worker_and_its_result_is_kept(use_store: str) -> None:
    # given a task enqueued outside any transaction
    result = tasks.add.enqueue(2, 3)
    # then it waits in sidequest's queue as one RunTask job naming the task
    [job] = queued()
    assert job["class"] == RUNNER and job["wrapped"] == "tests.contrib.django.app.tasks.add"
    assert job["jid"] == result.id and job["args"][1:] == [[2, 3], {}]
    assert tasks.add.get_result(result.id).status == TaskResultStatus.READY
    # when a worker runs
    run_worker()
    # then the result is there, with its times and the worker that ran it
    done = tasks.add.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 5
    assert done.enqueued_at <= done.started_at <= done.finished_at
    assert done.last_attempted_at == done.started_at
    assert len(done.worker_ids) == 1 and ":" in done.worker_ids[0]
    assert done.errors == [] and done.args == [2, 3]
    # and refresh() reads the same record
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 5


def test_a_failed_task_keeps_its_exception_class_and_traceback(use_store: str) -> None:
    # given a task with no retries that raises
    result = tasks.explode.enqueue("the disk is full")
    # when a worker runs it
    run_worker()
    # then its result is FAILED with Django's error fields
    failed = tasks.explode.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    [error] = failed.errors
    assert error.exception_class is ValueError
    assert "the disk is full" in error.traceback and "raise ValueError" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = failed.return_value
    # and the job went where sidequest puts jobs out of retries: the dead set
    assert get_config().store.set_size("dead") == 1


def test_the_context_attempt_follows_retries(use_store: str) -> None:
    # given a task that fails on its first attempt and has retries
    result = tasks.flaky.enqueue(2)
    # when the first attempt fails
    run_worker()
    # then the result is READY again with the first error, and a retry is scheduled
    waiting = tasks.flaky.get_result(result.id)
    assert waiting.status == TaskResultStatus.READY
    assert len(waiting.errors) == 1 and waiting.attempts == 1
    store = get_config().store
    assert store.set_size("retry") == 1
    # when the retry is due and a worker runs it
    store.promote_due("retry", datetime.now(UTC).timestamp() + 10_000)
    run_worker()
    # then the second attempt succeeded and says it was attempt 2
    done = tasks.flaky.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == {"attempt": 2, "id": result.id}
    assert done.attempts == 2 and len(done.errors) == 1


def test_run_after_becomes_a_scheduled_job(use_store: str) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    result = tasks.add.using(run_after=when).enqueue(1, 1)
    store = get_config().store
    [(score, raw)] = store.set_range("schedule", 0, -1)
    assert score == pytest.approx(when.timestamp()) and json.loads(raw)["jid"] == result.id
    assert queued() == []
    assert tasks.add.get_result(result.id).task.run_after == when


def test_priority_picks_a_band_queue_and_the_queue_name_is_kept(use_store: str) -> None:
    tasks.add.using(priority=10).enqueue(1, 2)
    tasks.add.using(priority=-100).enqueue(1, 2)
    tasks.email.enqueue("a@example.com")
    assert len(queued("default.high")) == 1
    assert len(queued("default.low")) == 1
    assert len(queued("emails")) == 1


def test_djangos_own_validation_is_raised_where_django_raises_it(use_store: str) -> None:
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid"):
        tasks.add.using(queue_name="nope")
    with pytest.raises(InvalidTask, match="priority must be a whole number"):
        tasks.add.using(priority=101)
    with pytest.raises(TypeError, match="Unsupported type"):
        tasks.add.enqueue(datetime.now(UTC), 1)
    assert queued() == []


def test_a_non_json_return_value_fails_the_task(use_store: str) -> None:
    result = tasks.returns_a_set.enqueue()
    run_worker()
    failed = tasks.returns_a_set.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[0].exception_class is TypeError


def test_task_options_pass_through_to_the_job(use_store: str) -> None:
    tasks.once.enqueue()
    tasks.add.enqueue(1, 1)
    once, added = queued()[::-1]
    assert once["retry"] is False and once["dead"] is False
    assert added["retry"] == 25 and "dead" not in added


def test_an_unknown_result_id_does_not_exist(use_store: str) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result("0123456789abcdef01234567")


def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs(use_store: str) -> None:
    # given a task enqueued inside a transaction that rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        raise RuntimeError("roll back")
    # then nothing was pushed and the result is unknown
    assert queued() == []
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result(result.id)


def test_a_task_enqueued_in_a_transaction_is_pushed_when_it_commits(use_store: str) -> None:
    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        # not yet: a worker must not see it before the transaction's rows exist
        assert queued() == []
    [job] = queued()
    assert job["jid"] == result.id


def test_enqueue_on_commit_can_be_switched_off(use_store: str) -> None:
    backends = {
        "default": {
            "BACKEND": "sidequest.contrib.django.SidequestBackend",
            "OPTIONS": {"ENQUEUE_ON_COMMIT": False},
        }
    }
    with override_settings(TASKS=backends), transaction.atomic():
        tasks.add.enqueue(1, 2)
        assert len(queued()) == 1


def test_results_expire_after_the_result_ttl(use_store: str) -> None:
    backends = {
        "default": {"BACKEND": "sidequest.contrib.django.SidequestBackend", "OPTIONS": {"RESULT_TTL": 0.3}}
    }
    with override_settings(TASKS=backends):
        result = tasks.add.enqueue(1, 2)

        def gone() -> bool:
            try:
                tasks.add.get_result(result.id)
            except TaskResultDoesNotExist:
                return True
            return False

        wait_for(gone, timeout=10, what="the result to expire")


def test_unknown_options_are_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="RESULT_TLL"):
        SidequestBackend("x", {"OPTIONS": {"RESULT_TLL": 5}})
    with pytest.raises(ImproperlyConfigured, match="RETRY is 'yes'"):
        SidequestBackend("x", {"OPTIONS": {"RETRY": "yes"}})
    with pytest.raises(ImproperlyConfigured, match="queue 'low priority' in QUEUES"):
        SidequestBackend("x", {"QUEUES": ["default", "low priority"]})


def test_aenqueue_and_aget_result_from_async_code(use_store: str) -> None:
    async def main() -> tuple[str, str]:
        result = await tasks.async_double.aenqueue(21)
        fetched = await tasks.async_double.aget_result(result.id)
        return result.id, fetched.status

    result_id, status = asyncio.run(main())
    assert status == TaskResultStatus.READY
    run_worker()
    assert tasks.async_double.get_result(result_id).return_value == 42


def test_fake_mode_keeps_tasks_in_memory_and_drains_them() -> None:
    from sidequest import testing

    with testing.fake():
        testing.clear_all()
        result = tasks.add.enqueue(20, 22)
        assert [job["wrapped"] for job in testing.jobs_for(RUNNER)] == ["tests.contrib.django.app.tasks.add"]
        assert testing.drain_all() == 1
        assert tasks.add.get_result(result.id).return_value == 42
        testing.clear_all()


def test_a_task_outside_the_installed_apps_is_refused_at_enqueue(use_store: str) -> None:
    from .outside import stray

    with pytest.raises(InvalidTask, match="not in an installed app"):
        stray.enqueue()
    assert queued() == []


def test_sidequest_settings_apply_once_so_later_backends_keep_the_workers_flags() -> None:
    from sidequest.contrib.django.settings import apply_settings

    with override_settings(SIDEQUEST={"concurrency": 7}):
        # given SIDEQUEST applied at start-up, then a command-line flag changing the same setting
        apply_settings()
        assert get_config().settings.concurrency == 7
        get_config().update(concurrency=3)
        # when a worker thread creates its own backend instance (task backends are per thread)
        SidequestBackend("default", {})
        # then the flag's value stands
        assert get_config().settings.concurrency == 3


def test_a_task_whose_result_expired_before_it_ran_gets_a_new_record(use_store: str) -> None:
    from sidequest.contrib.django.results import record_key

    # given a task whose READY record is gone by the time a worker takes it (a RESULT_TTL shorter
    # than the wait)
    result = tasks.add.enqueue(4, 5)
    store = get_config().store
    store.put_record(record_key(result.id), "{}", 0.05)
    wait_for(lambda: store.get_record(record_key(result.id)) is None, timeout=10, what="the record to expire")
    # when the worker runs it
    run_worker()
    # then the result is there again, complete, with the enqueue time the job carried (not the run's)
    done = tasks.add.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 9
    assert done.enqueued_at is not None and done.enqueued_at < done.started_at
    assert done.args == [4, 5] and len(done.worker_ids) == 1
