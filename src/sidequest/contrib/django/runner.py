"""The worker's side: the one sidequest job that runs Django tasks, and Django's per-request hygiene
around every job.

``RunTask`` runs a task the way Django's ImmediateBackend does (same signals, same TaskContext, same
JSON normalising of the return value) and keeps the task's result record current. A failure is
re-raised so sidequest's retry rules apply; the record says FAILED only once no retry is left.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

from sidequest.config import get_config
from sidequest.job import Job

from . import results
from ._compat import (
    TaskContext,
    TaskResultStatus,
    normalize_json,
    task_finished,
    task_started,
)
from .backend import RUNNER, SidequestBackend


def _ttl_of(alias: str) -> float:
    from ._compat import task_backends

    backend = task_backends[alias]
    return backend.result_ttl if isinstance(backend, SidequestBackend) else 24 * 3600.0


class RunTask(Job, name=RUNNER):
    """Runs one Django task: args are [task path, args, kwargs]; the jid is the task result id."""

    def perform(self, task_path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        task = results.import_task(task_path)
        record = results.load(self.jid) or self._record_again(task, args, kwargs)
        ttl = _ttl_of(record["backend"])
        now = time.time()
        record["status"] = TaskResultStatus.RUNNING.value
        record["started_at"] = record["started_at"] or now
        record["last_attempted_at"] = now
        record["worker_ids"].append(results.worker_id())
        results.save(record, ttl)
        task_result = results.to_task_result(record, task)
        sender = type(task.get_backend())
        task_started.send(sender=sender, task_result=task_result)
        try:
            if task.takes_context:
                value = task.call(TaskContext(task_result=task_result), *args, **kwargs)
            else:
                value = task.call(*args, **kwargs)
            value = normalize_json(value)
        except BaseException as exc:
            final = self._last_attempt()
            record["errors"].append(
                {
                    "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
                    "traceback": "".join(traceback.format_exception(exc)),
                }
            )
            self._finish(record, TaskResultStatus.FAILED if final else TaskResultStatus.READY, ttl)
            if final:
                task_finished.send(sender=sender, task_result=results.to_task_result(record, task))
            raise
        record["return_value"] = value
        self._finish(record, TaskResultStatus.SUCCESSFUL, ttl)
        task_finished.send(sender=sender, task_result=results.to_task_result(record, task))

    @staticmethod
    def _finish(record: results.Record, status: Any, ttl: float) -> None:
        record["status"] = status.value
        if status != TaskResultStatus.READY:
            record["finished_at"] = time.time()
        results.save(record, ttl)

    def _last_attempt(self) -> bool:
        """Whether sidequest's retry rules leave no retry after this failure (retry.decide's count)."""
        retry = self.payload.get("retry", True)
        if retry is False:
            return True
        limit = retry if isinstance(retry, int) and not isinstance(retry, bool) else None
        if limit is None:
            limit = get_config().settings.max_retries
        count = self.payload.get("retry_count")
        after = count + 1 if isinstance(count, int) and not isinstance(count, bool) else 0
        return after >= limit

    def retries_exhausted(self, payload: dict[str, Any], exc: BaseException) -> Any:
        """A retry_for limit can end retries early: make sure the record says FAILED then."""
        record = results.load(str(payload.get("jid", "")))
        if record is not None and record["status"] != TaskResultStatus.FAILED.value:
            self._finish(record, TaskResultStatus.FAILED, _ttl_of(record["backend"]))
        return None

    def _record_again(self, task: Any, args: list[Any], kwargs: dict[str, Any]) -> results.Record:
        """The record expired before the task ran (RESULT_TTL shorter than the wait): start a new one."""
        record = results.new_record(self.jid, task, args, kwargs, task.backend, time.time())
        created = self.payload.get("created_at")
        if isinstance(created, int | float):
            record["enqueued_at"] = float(created)
        return record


class CloseOldConnections:
    """Server middleware: close database connections that are broken or past CONN_MAX_AGE around each
    job, as Django does around each request (a long-lived worker otherwise keeps dead connections)."""

    options: ClassVar[frozenset[str]] = frozenset()

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        from django.db import close_old_connections

        close_old_connections()
        try:
            return call_next()
        finally:
            close_old_connections()


def prepare_worker() -> None:
    """Everything a worker process needs under Django: settings applied, the tasks and jobs of every
    installed app imported (``tasks.py`` and ``jobs.py``), connections closed around each job."""
    from django.utils.module_loading import autodiscover_modules

    from .settings import apply_settings

    apply_settings()
    autodiscover_modules("tasks", "jobs")
    chain = get_config().server_middleware
    if CloseOldConnections not in chain:
        chain.prepend(CloseOldConnections)
