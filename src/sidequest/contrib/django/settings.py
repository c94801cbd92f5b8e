"""sidequest's settings from Django's: ``SIDEQUEST = {"url": "redis://...", "concurrency": 20, ...}``.

The keys are sidequest's settings (see sidequest.config.Settings). Environment variables (REDIS_URL,
SIDEQUEST_URL, SIDEQUEST_CONCURRENCY, ...) win over SIDEQUEST, in web processes and workers alike, so a
deployment can point at another store without a code change; the worker's command-line flags win
over both.
"""

from __future__ import annotations

import weakref
from typing import Any

from sidequest.config import Config, get_config, settings_from_env

#: The configuration SIDEQUEST was applied to: once per process (per Config), so a backend created
#: later (task backends are per thread) never undoes a worker's command-line flags.
_applied_to: list[weakref.ref[Config]] = []


def apply_settings() -> None:
    """Apply settings.SIDEQUEST to sidequest's configuration, once (at app start, or by the backend)."""
    from django.conf import settings

    config = get_config()
    if any(ref() is config for ref in _applied_to):
        return
    _applied_to[:] = [weakref.ref(config)]

    wanted: dict[str, Any] = dict(getattr(settings, "SIDEQUEST", {}) or {})
    for key in settings_from_env():
        wanted.pop(key, None)
    if not wanted:
        return
    current = config.settings
    changes = {key: value for key, value in wanted.items() if getattr(current, key, object()) != value}
    if changes:
        config.update(**changes)
