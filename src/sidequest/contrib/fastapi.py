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
Nothing here imports FastAPI: Starlette apps use it the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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


__all__ = ["InProcessWorker", "worker_lifespan", "worker_lifespan_with"]
