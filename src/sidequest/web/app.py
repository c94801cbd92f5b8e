"""``create_app()``: the dashboard as one Starlette ASGI app, mountable under any prefix.

Each page is one template and one handler (in ``pages/``) that calls ``sidequest.api``; this module
wires them to Sidekiq's paths, puts the gate (auth, read-only, CSRF) and the security headers in
front, and gives templates what every page needs (the summary bar, links that respect the mount
point, the CSRF token).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from sidequest import api
from sidequest._version import __version__
from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.stores import Store, redact
from sidequest.web import format
from sidequest.web.gate import FORM_KEY, NONCE_KEY, Gate
from sidequest.web.security import AuthHook, Csrf, SecurityHeaders

HERE = Path(__file__).resolve().parent
FLASH_COOKIE = "sidequest_flash"
STATS_KEY = "sidequest.stats"

#: The tabs, in Sidekiq's order; "morgue" is Sidekiq's path for the dead set.
TABS = [
    ("dashboard", "Dashboard"),
    ("busy", "Busy"),
    ("queues", "Queues"),
    ("retries", "Retries"),
    ("scheduled", "Scheduled"),
    ("morgue", "Dead"),
    ("metrics", "Metrics"),
    ("batches", "Batches"),
    ("periodic", "Periodic"),
]


class Dashboard:
    """What the handlers share: the API, the templates, the settings given to create_app."""

    def __init__(
        self,
        store: Store,
        *,
        read_only: bool,
        csrf: Csrf,
        poll_interval: float,
        page_size: int,
    ) -> None:
        self.store = store  # handed to sidequest.api classes; the dashboard calls no store method itself
        self.paths: dict[str, str] = {}  # route name -> path template, for links
        self._store_label: str | None = None
        self.read_only = read_only
        self.csrf = csrf
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every value a page shows came from a job or an operator: escape it all
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters.update(format.FILTERS)

    def render(
        self, request: Request, template: str, *, tab: str, status: int = 200, **context: Any
    ) -> Response:
        nonce = request.scope.get(NONCE_KEY, "")

        root = request.scope.get("root_path", "")

        def url(route: str, /, **params: Any) -> str:
            # Built from the route table directly: Starlette's url_for walks every route per call,
            # which was most of a 100-row page's time.
            query = params.pop("_query", None)
            values = {name: quote(str(value), safe=":@") for name, value in params.items()}
            path = root + self.paths[route].format(**values)
            return f"{path}?{urlencode(query)}" if query else path

        def static(path: str) -> str:
            return f"{root}/static/{quote(path)}?v={__version__}"

        body = self.templates.get_template(template).render(
            request=request,
            url=url,
            static=static,
            tabs=TABS,
            tab=tab,
            title=context.pop("title", dict(TABS).get(tab, "")),
            summary=self.stats(request),
            store_label=self.store_label(),
            read_only=self.read_only,
            csrf_token=self.csrf.token(nonce) if nonce else "",
            flash=unquote(request.cookies.get(FLASH_COOKIE, ""))[:500],
            version=__version__,
            now=time.time(),
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        if FLASH_COOKIE in request.cookies:  # shown once
            response.delete_cookie(FLASH_COOKIE, path=root or "/")
        return response

    def stats(self, request: Request) -> api.StatsRecord:
        """The counters, read once per request: the summary bar and the page's own totals share them."""
        cached: api.StatsRecord | None = request.scope.get(STATS_KEY)
        if cached is None:
            cached = request.scope[STATS_KEY] = api.Stats(self.store).read()
        return cached

    def store_label(self) -> str:
        """The store named in the header: a Redis URL without password, or the SQLite file."""
        if self._store_label is None:
            info = api.Stats(self.store).store_info()
            self._store_label = info.get("path") or redact(info.get("url", "")) or info.get("store", "")
        return self._store_label

    def not_found(self, request: Request, what: str) -> Response:
        return self.render(request, "not_found.html", tab="", title="Not found", what=what, status=404)


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def form_of(request: Request) -> dict[str, list[str]]:
    """The POSTed form the gate already read and checked."""
    form: dict[str, list[str]] = request.scope.get(FORM_KEY, {})
    return form


def field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[-1] if values else default


def back(request: Request, route: str, done: str = "", **params: Any) -> Response:
    """After an action, back to a page with a GET (so a reload does not post again), saying what was
    done once. The message rides in a cookie, not the URL, so no link can make the page say anything."""
    response = RedirectResponse(request.url_for(route, **params).path, status_code=303)
    if done:
        root = request.scope.get("root_path", "") or "/"
        response.set_cookie(FLASH_COOKIE, quote(done), path=root, httponly=True, samesite="strict")
    return response


class _Prefixed:
    """Serves the app under a fixed path prefix that an outer server left in the path (Django, a proxy)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            root_path = scope.get("root_path", "")
            path = scope["path"]
            local = path[len(root_path) :] if path.startswith(root_path) else path
            if local == self.prefix or local.startswith(self.prefix + "/"):
                scope = {**scope, "root_path": root_path + self.prefix}
            else:
                await Response("Not Found", status_code=404, media_type="text/plain")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    config_or_store: Config | Store | str | None = None,
    *,
    prefix: str = "",
    auth: AuthHook | None = None,
    read_only: bool = False,
    secret_key: str | bytes | None = None,
    poll_interval: float = 2.0,
    page_size: int = 25,
) -> ASGIApp:
    """The dashboard as an ASGI app.

    config_or_store: a Config, a store, a store URL, or None for the global config (as workers use).
    prefix: only for servers that pass the full path on (a Django ASGI dispatcher, a proxy that does
    not strip its prefix); under Starlette/FastAPI ``Mount`` leave it empty, the mount point is used.
    auth: called with every request; True lets it through, False is a 403, a Response is sent as is.
    read_only: no buttons, and every POST is refused with 403.
    secret_key: signs CSRF tokens; set it when several server processes serve the dashboard
    (default: SIDEQUEST_WEB_SECRET, else random per process).
    """
    from sidequest.web import pages

    secret = secret_key or os.environ.get("SIDEQUEST_WEB_SECRET") or secrets.token_bytes(32)
    csrf = Csrf(secret.encode() if isinstance(secret, str) else secret)
    dashboard = Dashboard(
        _store_of(config_or_store),
        read_only=read_only,
        csrf=csrf,
        poll_interval=poll_interval,
        page_size=page_size,
    )
    routes: list[Route | Mount] = [
        *pages.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    dashboard.paths = {route.name: route.path for route in routes if isinstance(route, Route)}
    owned = not isinstance(config_or_store, (Store, Config))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:  # a store opened here from a URL is closed here; a given one belongs to the caller
            dashboard.store.close()

    async def store_failed(request: Request, exc: Exception) -> Response:
        """A store that does not answer is the operator's first question, not a stack trace."""
        return Response(
            f"Service Unavailable: the store does not answer ({exc}). The page works again once it does.",
            status_code=503,
            media_type="text/plain",
        )

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        exception_handlers={StoreError: store_failed},
        middleware=[Middleware(SecurityHeaders), Middleware(Gate, auth=auth, read_only=read_only, csrf=csrf)],
    )
    app.state.dashboard = dashboard
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    return _Prefixed(app, prefix) if prefix else app


def _store_of(config_or_store: Config | Store | str | None) -> Store:
    """The store to show: given, the config's, one a URL names, or the configured one (never created)."""
    if isinstance(config_or_store, Store):
        return config_or_store
    if isinstance(config_or_store, Config):
        return config_or_store.store
    return api.connect(config_or_store)
