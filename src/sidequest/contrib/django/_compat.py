"""Django 6's ``django.tasks`` or, on Django 4.2 / 5.x, the ``django-tasks`` backport: one set of names.

The two share their API; the backport spells ``InvalidTask`` as ``InvalidTaskError``. Everything else
in this package imports from here, so supporting both stays in one file.
"""

from __future__ import annotations

import importlib
from typing import Any


def _modules(root: str) -> tuple[Any, Any, Any, Any, Any]:
    return tuple(  # type: ignore[return-value]
        importlib.import_module(root + name)
        for name in ("", ".base", ".backends.base", ".exceptions", ".signals")
    )


# Names are typed Any: Django has no type hints, and which package exists depends on the Django version.
try:  # Django 6.0+
    _tasks, _base, _backends, _exceptions, _signals = _modules("django.tasks")
    InvalidTask: Any = _exceptions.InvalidTask
    BACKPORT = False
except ImportError:  # Django 4.2 / 5.x with the django-tasks package
    _tasks, _base, _backends, _exceptions, _signals = _modules("django_tasks")
    InvalidTask = _exceptions.InvalidTaskError
    BACKPORT = True

Task: Any = _base.Task
TaskContext: Any = _base.TaskContext
TaskError: Any = _base.TaskError
TaskResult: Any = _base.TaskResult
TaskResultStatus: Any = _base.TaskResultStatus
DEFAULT_TASK_PRIORITY: int = _base.DEFAULT_TASK_PRIORITY
DEFAULT_TASK_QUEUE_NAME: str = _base.DEFAULT_TASK_QUEUE_NAME
TASK_MAX_PRIORITY: int = _base.TASK_MAX_PRIORITY
TASK_MIN_PRIORITY: int = _base.TASK_MIN_PRIORITY
BaseTaskBackend: Any = _backends.BaseTaskBackend
TaskResultDoesNotExist: Any = _exceptions.TaskResultDoesNotExist
task_backends: Any = _tasks.task_backends
task_enqueued: Any = _signals.task_enqueued
task_started: Any = _signals.task_started
task_finished: Any = _signals.task_finished


def normalize_json(value: Any) -> Any:
    """Django's own JSON normaliser (tuples become lists; anything else non-native is a TypeError)."""
    module = importlib.import_module("django_tasks.utils" if BACKPORT else "django.utils.json")
    return module.normalize_json(value)


__all__ = [
    "BACKPORT",
    "DEFAULT_TASK_PRIORITY",
    "DEFAULT_TASK_QUEUE_NAME",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
