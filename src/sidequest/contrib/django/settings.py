"""sidequest's settings from Django's: ``SIDEQUEST = {"url": "redis://...", "concurrency": 20, ...}``.

The keys are sidequest's settings (see sidequest.config.Settings). Environment variables (REDIS_URL,
SIDEQUEST_URL, SIDEQUEST_CONCURRENCY, ...) win over SIDEQUEST, in web processes and workers alike, so a
deployment can point at another store without a code change; the worker's command-line flags win
over both.
"""

from __future__ import annotations

from typing import Any

from sidequest.config import get_config, settings_from_env


def apply_settings() -> None:
    """Apply settings.SIDEQUEST to sidequest's configuration (called at app start and by the backend)."""
    from django.conf import settings

    wanted: dict[str, Any] = dict(getattr(settings, "SIDEQUEST", {}) or {})
    for key in settings_from_env():
        wanted.pop(key, None)
    if not wanted:
        return
    config = get_config()
    current = config.settings
    changes = {key: value for key, value in wanted.items() if getattr(current, key, object()) != value}
    if changes:
        config.update(**changes)
