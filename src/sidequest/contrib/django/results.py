"""Task results: one JSON record per task id in the sidequest store, READY -> RUNNING -> SUCCESSFUL / FAILED.

The record is written at enqueue (READY), by the worker when an attempt starts (RUNNING, a worker id
appended, so ``TaskContext.attempt`` counts attempts across retries) and when it ends (SUCCESSFUL with
the return value, FAILED with the error once no retry is left, or READY again with the error while
one is). Records live in ``Store.put_record`` for the backend's RESULT_TTL, counted from the last
write, so only Django tasks pay for them. In a testing mode (fake or inline) they are kept in this
process instead, so tests need no store.

Task functions are found by import path, as every Django Tasks backend does. Only modules of
installed apps are imported: a path in a stored record never makes the worker import arbitrary code.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

from sidequest.client import get_delivery_override
from sidequest.config import get_config
from sidequest.errors import SidequestError
from sidequest.stores.base import Store
from sidequest.stores.memory import MemoryStore

from ._compat import Task, TaskError, TaskResult, TaskResultStatus

Record = dict[str, Any]

#: Records of tasks enqueued while a testing mode is on (no store is written in fake or inline mode).
testing_records: Store = MemoryStore()


class TaskImportError(SidequestError, LookupError):
    """A task path does not name a Django task of an installed app."""


def record_store() -> Store:
    """Where records live: the configured store, or this process while a testing mode is on."""
    return testing_records if get_delivery_override() is not None else get_config().store


def record_key(result_id: str) -> str:
    return f"django-task:{result_id}"


def save(record: Record, ttl: float) -> None:
    record_store().put_record(record_key(record["id"]), json.dumps(record, separators=(",", ":")), ttl)


def load(result_id: str) -> Record | None:
    raw = record_store().get_record(record_key(result_id))
    return None if raw is None else dict(json.loads(raw))


def worker_id() -> str:
    """hostname:pid, the start of this worker process's sidequest identity (as the Web UI shows it)."""
    return f"{os.environ.get('DYNO') or socket.gethostname()}:{os.getpid()}"


def new_record(
    result_id: str, task: Task, args: list[Any], kwargs: dict[str, Any], alias: str, now: float
) -> Record:
    return {
        "id": result_id,
        "task": task.module_path,
        "backend": alias,
        "queue_name": task.queue_name,
        "priority": task.priority,
        "run_after": task.run_after.timestamp() if task.run_after is not None else None,
        "args": args,
        "kwargs": kwargs,
        "status": str(TaskResultStatus.READY.value),
        "enqueued_at": now,
        "started_at": None,
        "finished_at": None,
        "last_attempted_at": None,
        "errors": [],
        "worker_ids": [],
        "return_value": None,
    }


def import_task(path: str) -> Task:
    """The Task object at path (``module.function``), importing its module only if it belongs to an
    installed app. The same rule holds at enqueue and in the worker, so a task the worker would
    refuse is refused at enqueue."""
    module_name, _, name = path.rpartition(".")
    if not _in_installed_app(module_name):
        raise TaskImportError(
            f"task {path} is not in an installed app, so a worker would not import it: define it in "
            "an app listed in INSTALLED_APPS (e.g. its tasks.py)"
        )
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise TaskImportError(f"task {path} cannot be imported ({exc}); was it renamed or removed?") from exc
    if not isinstance(found, Task):
        raise TaskImportError(f"{path} is a {type(found).__name__}, not a task; decorate it with @task")
    return found


def _in_installed_app(module_name: str) -> bool:
    from django.apps import apps

    return any(
        module_name == config.name or module_name.startswith(config.name + ".")
        for config in apps.get_app_configs()
    )


def to_datetime(value: float | None) -> datetime | None:
    if value is None:
        return None
    from django.conf import settings
    from django.utils import timezone

    moment = datetime.fromtimestamp(value, tz=UTC)
    return moment if settings.USE_TZ else timezone.make_naive(moment)


def to_task_result(record: Record, task: Task | None = None) -> TaskResult:
    """The TaskResult a record describes (task given, or imported by its path)."""
    found = task if task is not None else import_task(record["task"])
    changes: dict[str, Any] = {
        "priority": record["priority"],
        "queue_name": record["queue_name"],
        "backend": record["backend"],
    }
    run_after = to_datetime(record.get("run_after"))
    if run_after is not None:
        changes["run_after"] = run_after
    result = TaskResult(
        task=found.using(**changes),
        id=record["id"],
        status=TaskResultStatus(record["status"]),
        enqueued_at=to_datetime(record["enqueued_at"]),
        started_at=to_datetime(record["started_at"]),
        finished_at=to_datetime(record["finished_at"]),
        last_attempted_at=to_datetime(record["last_attempted_at"]),
        args=record["args"],
        kwargs=record["kwargs"],
        backend=record["backend"],
        errors=[
            TaskError(exception_class_path=error["exception_class_path"], traceback=error["traceback"])
            for error in record["errors"]
        ],
        worker_ids=list(record["worker_ids"]),
    )
    if record["status"] == TaskResultStatus.SUCCESSFUL.value:
        object.__setattr__(result, "_return_value", record["return_value"])
    return result
