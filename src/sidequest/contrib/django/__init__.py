"""Django integration: a Django Tasks backend, a worker command, and sidequest settings in settings.py.

    INSTALLED_APPS = [..., "sidequest.contrib.django"]
    TASKS = {"default": {"BACKEND": "sidequest.contrib.django.SidequestBackend"}}
    SIDEQUEST = {"url": "redis://localhost:6379/0"}

then ``python manage.py sidequest_worker``. Works with Django 6.1's ``django.tasks`` and with the
``django-tasks`` backport on Django 4.2 / 5.x. See docs/django.md.
"""

from __future__ import annotations

from .backend import RUNNER, SidequestBackend, SidequestTask, sidequest_queue
from .runner import CloseOldConnections, RunTask, prepare_worker

__all__ = [
    "RUNNER",
    "CloseOldConnections",
    "RunTask",
    "SidequestBackend",
    "SidequestTask",
    "prepare_worker",
    "sidequest_queue",
]
