"""``SidequestBackend``: Django's Tasks framework (``django.tasks``, or the ``django-tasks`` backport)
on sidequest's queues, workers, retries and stores.

    TASKS = {
        "default": {
            "BACKEND": "sidequest.contrib.django.SidequestBackend",
            "QUEUES": ["default", "emails"],
            "OPTIONS": {"RESULT_TTL": 86400, "ENQUEUE_ON_COMMIT": True, "RETRY": 25},
        }
    }

Every task runs through one sidequest job, ``sidequest.contrib.django.RunTask``, whose payload names the
task by import path (and, as Sidekiq's ActiveJob wrapper does, in ``wrapped``, so dashboards show the
task's name). The task result id is the job's jid.

- ``priority`` (-100..100) picks one of three sidequest queues per Django queue: ``NAME.high`` for
  1..100, ``NAME`` for 0 and ``NAME.low`` for -100..-1. ``manage.py sidequest_worker`` without ``-q``
  works them with weights 4, 2 and 1 (``--strict``: always high first). Priorities inside a band are
  not ordered.
- ``run_after`` becomes a scheduled job; retries follow sidequest's rules (Sidekiq's backoff), with
  ``@task(retry=N)`` / ``@task(retry=False)`` and ``@task(dead=False)`` per task and the ``RETRY``
  option as the default (25).
- ``ENQUEUE_ON_COMMIT`` (on by default): inside ``transaction.atomic()`` the job is pushed when the
  transaction commits, and never if it rolls back, so a worker never runs a task before the rows it
  reads exist. The trade-off: a push that fails after the commit cannot undo the commit (the error
  reaches the code that committed), and until the commit ``get_result`` does not know the id.

Caveats: results are kept RESULT_TTL seconds after their last change (a day by default), then
``get_result`` raises TaskResultDoesNotExist. Arguments and return values must be JSON-native, as
Django requires. A task's module must belong to an installed app (the worker imports nothing else; enqueue checks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidequest import payload as wire
from sidequest.client import get_client

from . import results
from ._compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task_enqueued,
)

#: The sidequest job that runs every Django task (registered by sidequest.contrib.django.runner).
RUNNER = "sidequest.contrib.django.RunTask"
DEFAULT_RESULT_TTL = 24 * 3600.0
DEFAULT_RETRY = 25


@dataclass(frozen=True, slots=True, kw_only=True)
class SidequestTask(Task):  # type: ignore[misc]
    """A Django task with sidequest's options: ``@task(retry=5)``, ``@task(retry=False, dead=False)``.

    retry None means the backend's RETRY option. Django 6.1 passes extra ``@task`` keywords to the
    backend's task class; this is that class.
    """

    retry: bool | int | None = None
    dead: bool = True


def sidequest_queue(queue_name: str, priority: int) -> str:
    """The sidequest queue for a Django queue and priority (see the module docstring)."""
    if priority > 0:
        return f"{queue_name}.high"
    if priority < 0:
        return f"{queue_name}.low"
    return queue_name


class SidequestBackend(BaseTaskBackend):  # type: ignore[misc]
    """A Django Tasks backend that enqueues onto sidequest; ``manage.py sidequest_worker`` runs the tasks."""

    task_class = SidequestTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        options = self.options
        self.result_ttl = float(options.get("RESULT_TTL", DEFAULT_RESULT_TTL))
        self.enqueue_on_commit = bool(options.get("ENQUEUE_ON_COMMIT", True))
        self.default_retry: bool | int = options.get("RETRY", DEFAULT_RETRY)
        self.database: str | None = options.get("DATABASE")
        unknown = sorted(set(options) - {"RESULT_TTL", "ENQUEUE_ON_COMMIT", "RETRY", "DATABASE"})
        if unknown:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown option(s) {', '.join(unknown)}; "
                "sidequest's backend reads RESULT_TTL, ENQUEUE_ON_COMMIT, RETRY and DATABASE"
            )
        problems = []
        if self.result_ttl <= 0:
            problems.append(f"RESULT_TTL is {self.result_ttl!r}; use a positive number of seconds")
        retry = self.default_retry
        if not (isinstance(retry, bool) or (isinstance(retry, int) and retry >= 0)):
            problems.append(f"RETRY is {retry!r}; use True, False or a number of retries (>= 0)")
        for queue in sorted(self.queues):
            if not queue or not all(c.isalnum() or c in "_:.-" for c in queue):
                problems.append(
                    f"queue {queue!r} in QUEUES is not a sidequest queue name (letters, digits, _ : . -)"
                )
        if problems:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"TASKS[{alias!r}]: " + "; ".join(problems))
        from .settings import apply_settings

        apply_settings()

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        retry = getattr(task, "retry", None)
        if retry is not None and not (isinstance(retry, bool) or (isinstance(retry, int) and retry >= 0)):
            raise InvalidTask(f"retry of {task.module_path} is {retry!r}; use True, False or a number >= 0")

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        self._check_importable(task)
        result_id = wire.new_jid()
        now = time.time()
        # Django's own argument check: TaskResult raises TypeError / ValueError for non-JSON values
        result = TaskResult(
            task=task,
            id=result_id,
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        checked_args = normalize_json(list(args))
        checked_kwargs = normalize_json(dict(kwargs))
        record = results.new_record(result_id, task, checked_args, checked_kwargs, self.alias, now)
        object.__setattr__(result, "enqueued_at", results.to_datetime(now))
        push = self._pusher(task, result, record)
        if self.enqueue_on_commit:
            from django.db import transaction

            transaction.on_commit(push, using=self.database)  # runs at once outside atomic blocks
        else:
            push()
        return result

    async def aenqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """enqueue() on a worker thread. Django's default hands every call to its one thread-sensitive
        thread; this needs no database connection (async code cannot be inside atomic() on this
        thread, so the push happens at once), so concurrent calls do not queue behind each other."""
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.enqueue, thread_sensitive=False)(task, args, kwargs)

    def _pusher(self, task: Task, result: TaskResult, record: results.Record) -> Callable[[], None]:
        retry = getattr(task, "retry", None)
        options: dict[str, Any] = {
            "queue": sidequest_queue(task.queue_name, task.priority),
            "retry": self.default_retry if retry is None else retry,
            "jid": result.id,
            "wrapped": task.module_path,
        }
        if getattr(task, "dead", True) is False:
            options["dead"] = False
        at = task.run_after.timestamp() if task.run_after is not None else None
        delay = max(0.0, (at or 0.0) - time.time())
        args = [task.module_path, record["args"], record["kwargs"]]

        def push() -> None:
            # the record first: a worker that picks the job up at once must find it
            results.save(record, self.result_ttl + delay)
            get_client().push_job(RUNNER, args, options, at=at)
            task_enqueued.send(type(self), task_result=result)

        return push

    def _check_importable(self, task: Task) -> None:
        """The worker finds tasks by import path, so a task must be importable under its own name."""
        try:
            found = results.import_task(task.module_path)
        except results.TaskImportError as exc:
            raise InvalidTask(str(exc)) from None
        if found.func is not task.func:
            raise InvalidTask(
                f"{task.module_path} does not name this task (another object has that name); "
                "define each task once, at module level"
            )

    def get_result(self, result_id: str) -> TaskResult:
        record = results.load(result_id)
        if record is None:
            raise TaskResultDoesNotExist(result_id)
        return results.to_task_result(record)
