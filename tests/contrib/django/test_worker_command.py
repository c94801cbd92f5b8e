"""``manage.py sidequest_worker``: sidequest's worker flags under Django's settings."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management import call_command
from django.db.backends.signals import connection_created

from sidequest.config import get_config
from sidequest.contrib.django._compat import TaskResultStatus

from .app import tasks


def test_the_command_runs_queued_tasks_with_the_workers_flags(use_store: str) -> None:
    # given tasks on two Django queues and in a priority band
    first = tasks.add.enqueue(1, 2)
    second = tasks.email.using(priority=50).enqueue("a@example.com")
    # when the command runs in burst mode without -q (so it works every queue of TASKS)
    call_command("sidequest_worker", "--burst", "-c", "2")
    # then both ran
    assert tasks.add.get_result(first.id).return_value == 3
    assert tasks.email.get_result(second.id).status == TaskResultStatus.SUCCESSFUL


def test_given_queues_replace_the_default_ones(use_store: str) -> None:
    kept = tasks.email.enqueue("b@example.com")
    ran = tasks.add.enqueue(2, 2)
    call_command("sidequest_worker", "--burst", "-q", "default")
    assert tasks.add.get_result(ran.id).status == TaskResultStatus.SUCCESSFUL
    assert tasks.email.get_result(kept.id).status == TaskResultStatus.READY
    assert [json.loads(raw)["jid"] for raw in get_config().store.queue_range("emails", 0, -1)] == [kept.id]


def test_each_job_gets_a_fresh_database_connection_as_a_request_would(use_store: str) -> None:
    # given two tasks that use the database, run one after the other by one thread
    opened: list[object] = []

    def count(sender: object, connection: object, **kwargs: object) -> None:
        opened.append(connection)

    tasks.query.enqueue()
    tasks.query.enqueue()
    connection_created.connect(count)
    try:
        call_command("sidequest_worker", "--burst", "-c", "1")
    finally:
        connection_created.disconnect(count)
    # then the connection of the first job (CONN_MAX_AGE 0) was closed after it, as after a request
    assert len(opened) == 2


def test_plain_sidequest_jobs_of_installed_apps_run_too(use_store: str, tmp_path: Path) -> None:
    # given a @sidequest.job from an app's jobs.py, enqueued the sidequest way
    from .app.jobs import touch

    target = tmp_path / "touched.txt"
    touch.perform_async(str(target))
    # when the Django worker command runs
    call_command("sidequest_worker", "--burst")
    # then it found the job (jobs.py of every installed app is imported) and ran it
    assert target.read_text() == "touched\n"


def test_with_strict_the_worker_runs_higher_priorities_first(use_store: str, tmp_path: Path) -> None:
    # given tasks enqueued lowest priority first
    order = tmp_path / "order.txt"
    tasks.note.using(priority=-20).enqueue(str(order), "low")
    tasks.note.enqueue(str(order), "normal")
    tasks.note.using(priority=80).enqueue(str(order), "high")
    # when one worker thread works the default queue bands in strict order
    call_command("sidequest_worker", "--burst", "--strict", "-c", "1")
    # then they ran highest priority first
    assert order.read_text().split() == ["high", "normal", "low"]
