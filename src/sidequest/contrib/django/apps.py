"""The Django app (``"sidequest.contrib.django"`` in INSTALLED_APPS): it brings the worker command and
applies ``settings.SIDEQUEST`` once Django is ready."""

from __future__ import annotations

from django.apps import AppConfig


class SidequestConfig(AppConfig):  # type: ignore[misc]
    name = "sidequest.contrib.django"
    label = "sidequest"
    verbose_name = "sidequest"

    def ready(self) -> None:
        from .settings import apply_settings

        apply_settings()
