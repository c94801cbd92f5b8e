"""What stands between a request and the operator API: auth hook, read-only mode, CSRF, security headers.

Every state-changing action is a POST that carries a CSRF token; a missing or wrong token is a 403
and nothing changes. The token is an HMAC of a random per-browser nonce kept in an HttpOnly,
SameSite=Strict cookie, so it needs no server-side session (Sidekiq keeps it in Rack's session;
a cookie that a sibling subdomain manages to plant is useless without the app's secret).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The auth hook: called with each request; True lets it through, False answers 403, a Response is sent as is.
AuthHook = Callable[[Request], "bool | Response | Awaitable[bool | Response]"]

CSRF_COOKIE = "sidequest_csrf"
CSRF_FIELD = "csrf"

#: No inline script, nothing from another origin: the page's JS and CSS are our own static files.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"private, no-store"),
]


class SecurityHeaders:
    """Adds the CSP and friends to every response the dashboard sends, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Csrf:
    """Issues and checks CSRF tokens bound to a per-browser nonce cookie."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def nonce(self, request: Request) -> str | None:
        value = request.cookies.get(CSRF_COOKIE)
        return value if value and len(value) <= 128 else None

    def new_nonce(self) -> str:
        return secrets.token_urlsafe(32)

    def token(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    def valid(self, request: Request, form: dict[str, list[str]]) -> bool:
        nonce = self.nonce(request)
        sent = form.get(CSRF_FIELD, [""])[-1]
        if not nonce or not sent:
            return False
        return hmac.compare_digest(self.token(nonce), sent)


async def read_form(request: Request) -> dict[str, list[str]]:
    """The posted urlencoded form as name -> values (our forms post nothing else; no multipart parser needed)."""
    if "form" in request.state._state:
        cached: dict[str, list[str]] = request.state.form
        return cached
    body = await request.body()
    form: dict[str, list[str]] = {}
    if len(body) <= 1_000_000:
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(name, []).append(value)
    request.state.form = form
    return form


async def check_auth(hook: AuthHook | None, request: Request) -> Response | None:
    """None when the request may go on, else the response that refuses it."""
    if hook is None:
        return None
    verdict: Any = hook(request)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if isinstance(verdict, Response):
        return verdict
    if verdict is True:
        return None
    return PlainTextResponse("Forbidden", status_code=403)


def forbidden(reason: str) -> Response:
    return PlainTextResponse(f"Forbidden: {reason}", status_code=403)
