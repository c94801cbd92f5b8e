"""The one door every request passes: auth hook, then for a POST read-only refusal and the CSRF check.

Kept as ASGI middleware in front of the router, so no POST route can forget a check.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidequest.web.security import CSRF_COOKIE, AuthHook, Csrf, check_auth, forbidden, read_form

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_KEY = "sidequest.form"
NONCE_KEY = "sidequest.csrf_nonce"


class Gate:
    def __init__(self, app: ASGIApp, *, auth: AuthHook | None, read_only: bool, csrf: Csrf) -> None:
        self.app = app
        self.auth = auth
        self.read_only = read_only
        self.csrf = csrf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = await check_auth(self.auth, request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if request.method not in SAFE_METHODS:
            if self.read_only:
                await forbidden("this dashboard is read-only")(scope, receive, send)
                return
            form = await read_form(request)
            if not self.csrf.valid(request, form):
                await forbidden("missing or wrong CSRF token; reload the page and try again")(
                    scope, receive, send
                )
                return
            scope[FORM_KEY] = form
            receive = _replay(b"")
        nonce = self.csrf.nonce(request)
        if nonce is not None:
            scope[NONCE_KEY] = nonce
            await self.app(scope, receive, send)
            return
        # First visit: hand the browser its CSRF nonce with whatever this response is.
        nonce = self.csrf.new_nonce()
        scope[NONCE_KEY] = nonce
        cookie_path = scope.get("root_path") or "/"
        cookie = (
            f"{CSRF_COOKIE}={nonce}; Path={cookie_path}; HttpOnly; SameSite=Strict"
            + ("; Secure" if scope.get("scheme") == "https" else "")
        ).encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _replay(body: bytes) -> Receive:
    """A receive callable for a body already read (the form is in the scope by then)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
