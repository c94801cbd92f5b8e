"""The dashboard: ``create_app()`` returns an ASGI app with Sidekiq's Web UI pages on ``sidequest.api``.

Needs the ``web`` extra (Starlette, Jinja2, uvicorn): ``pip install 'sidequest[web]'``. The import is
lazy so ``sidequest web`` can say so plainly when they are missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sidequest.web.app import create_app
    from sidequest.web.security import AuthHook

__all__ = ["AuthHook", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sidequest.web.app import create_app

        return create_app
    if name == "AuthHook":
        from sidequest.web.security import AuthHook

        return AuthHook
    raise AttributeError(f"module 'sidequest.web' has no attribute {name!r}")
