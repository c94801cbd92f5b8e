"""A task outside every installed app: the worker would not import it, so enqueue refuses it."""

from __future__ import annotations

from sidequest.contrib.django._compat import BACKPORT

if BACKPORT:
    from django_tasks import task
else:
    from django.tasks import task


@task
def stray() -> None:
    return None
