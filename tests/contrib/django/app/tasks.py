"""Tasks of the test app (an installed app, so the worker may import them)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from sidequest.contrib.django._compat import BACKPORT

if BACKPORT:
    from django_tasks import task
else:
    from django.tasks import task


@task
def add(a: int, b: int) -> int:
    return a + b


@task(retry=0)
def explode(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True, retry=3)
def flaky(context: Any, fail_until: int) -> dict[str, Any]:
    """Fails until its attempt number reaches fail_until; returns what the context said."""
    if context.attempt < fail_until:
        raise RuntimeError(f"attempt {context.attempt} fails")
    return {"attempt": context.attempt, "id": context.task_result.id}


@task(retry=False, dead=False)
def once() -> str:
    return "once"


@task
async def async_double(value: int) -> int:
    return value * 2


@task(queue_name="emails")
def email(to: str) -> str:
    return f"sent to {to}"


@task
def query() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return int(cursor.fetchone()[0])


@task(retry=0)
def returns_a_set() -> Any:
    return {1, 2}


@task
def note(path: str, label: str) -> None:
    """Appends label to the file at path, so a test can see the order tasks ran in."""
    with open(path, "a") as file:
        file.write(label + "\n")
