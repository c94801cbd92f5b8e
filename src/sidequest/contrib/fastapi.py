"""FastAPI and Starlette: a lifespan that runs a worker beside the app, for development.

    from fastapi import FastAPI
    from sidequest.contrib.fastapi import worker_lifespan

    app = FastAPI(lifespan=worker_lifespan)             # or worker_lifespan_with(concurrency=2)

    @app.post("/signup")
    async def signup(email: str) -> dict[str, str]:
        jid = await send_welcome.aperform_async(email)  # never blocks the event loop
        return {"jid": jid}

Inside your own lifespan, ``async with InProcessWorker(): yield``. In production run
``sidequest worker -r app.jobs`` instead and leave the lifespan out (or switch it with a setting).
The lifespan imports nothing of FastAPI: Starlette apps use it the same way.

The dashboard, behind the app's own auth dependency (it needs the ``web`` extra):

    mount_dashboard(app, "/sidequest", dependencies=[Depends(require_admin)])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sidequest.contrib.worker_thread import InProcessWorker


@asynccontextmanager
async def worker_lifespan(app: Any) -> AsyncIterator[None]:
    """A Starlette/FastAPI lifespan: a worker on this process's threads while the app runs."""
    async with InProcessWorker():
        yield


def worker_lifespan_with(**settings: Any) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """worker_lifespan with sidequest settings applied first, e.g. ``worker_lifespan_with(concurrency=2)``."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with InProcessWorker(**settings):
            yield

    return lifespan


def mount_dashboard(
    app: Any, path: str = "/sidequest", *, dependencies: Sequence[Any] = (), **options: Any
) -> Any:
    """Serve sidequest's dashboard under path on a FastAPI app, behind the app's own dependencies.

    A Mount would skip FastAPI's dependencies, so the dashboard is served by two routes (path and
    everything under it) whose dependencies run first: an auth dependency that raises
    HTTPException(401/403) keeps the request from ever reaching the dashboard. options go to
    ``sidequest.web.create_app`` (read_only, secret_key, ...). Returns the dashboard ASGI app.
    """
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

    from sidequest.web import create_app

    prefix = "/" + path.strip("/")
    from sidequest.config import get_config

    dashboard = create_app(options.pop("config_or_store", None) or get_config(), prefix=prefix, **options)

    class Forward(Response):
        """Hands the request, body unread, to the dashboard (FastAPI only ran the dependencies)."""

        def __init__(self) -> None:
            super().__init__()

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            # the dashboard routes (and builds its URLs) with its own router, not the app's
            own = {k: v for k, v in scope.items() if k not in ("router", "route", "endpoint", "path_params")}
            await dashboard(own, receive, send)

    async def serve_dashboard() -> Response:
        return Forward()

    methods = ["GET", "HEAD", "POST"]
    for route in (prefix, prefix + "/{path:path}"):
        app.add_api_route(
            route, serve_dashboard, methods=methods, dependencies=list(dependencies), include_in_schema=False
        )
    return dashboard


__all__ = ["InProcessWorker", "mount_dashboard", "worker_lifespan", "worker_lifespan_with"]
