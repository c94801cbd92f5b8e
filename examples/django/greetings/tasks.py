"""The Django example's task."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

try:
    from django.tasks import task
except ImportError:  # Django 4.2 / 5.x with the django-tasks backport
    from django_tasks import task


@task(retry=3)
def write_greeting(name: str) -> str:
    outbox = Path(settings.OUTBOX)
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{name}.txt"
    path.write_text(f"Hello, {name}!\n")
    return str(path)
