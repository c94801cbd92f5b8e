"""sidequest's dashboard in a Django project (ASGI), behind Django's staff login.

Django's URL conf routes to views, not to ASGI applications, so the dashboard goes in ``asgi.py``,
in front of Django's application: requests under the prefix reach the dashboard, the rest reach
Django unchanged.

    # mysite/asgi.py
    from django.core.asgi import get_asgi_application
    from sidequest.contrib.django.dashboard import with_dashboard

    application = with_dashboard(get_asgi_application(), prefix="/sidequest")

``staff_member`` is the default auth hook: it reads Django's session cookie and lets active staff
users in, sends others to LOGIN_URL (as ``staff_member_required`` does) and answers 403 to
logged-in users who are not staff. It needs ``django.contrib.sessions`` and ``django.contrib.auth``.
Needs the ``web`` extra (Starlette, Jinja2).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sidequest.config import get_config


class _SessionRequest:
    """What django.contrib.auth.get_user reads from a request: its session."""

    def __init__(self, session: Any) -> None:
        self.session = session


def _user_of(session_key: str | None) -> Any:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import get_user
    from django.db import close_old_connections

    close_old_connections()
    try:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        return get_user(_SessionRequest(store))
    finally:
        close_old_connections()


async def staff_member(request: Request) -> bool | Response:
    """The default auth hook: active staff users of the Django session only."""
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.shortcuts import resolve_url

    user = await sync_to_async(_user_of)(request.cookies.get(settings.SESSION_COOKIE_NAME))
    if user.is_active and user.is_staff:
        return True
    if not user.is_authenticated:
        login = str(resolve_url(settings.LOGIN_URL))
        return RedirectResponse(f"{login}?{urlencode({'next': request.url.path})}", status_code=302)
    return PlainTextResponse("Forbidden: staff only", status_code=403)


def with_dashboard(application: ASGIApp, prefix: str = "/sidequest", **options: Any) -> ASGIApp:
    """Django's ASGI application with the dashboard under prefix; options go to create_app
    (auth defaults to staff_member; read_only, secret_key, ...)."""
    from sidequest.web import create_app

    prefix = "/" + prefix.strip("/")
    options.setdefault("auth", staff_member)
    dashboard = create_app(options.pop("config_or_store", None) or get_config(), prefix=prefix, **options)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (path == prefix or path.startswith(prefix + "/")):
            await dashboard(scope, receive, send)
        else:
            await application(scope, receive, send)

    return dispatch


__all__ = ["staff_member", "with_dashboard"]
