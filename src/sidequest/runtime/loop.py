"""The one event loop all ``async def`` jobs of a worker process share, on a thread of its own.

It starts with the first async job. The processor thread that runs an async job waits for it, so
async and sync jobs share one concurrency limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class _Raised:
    """What an async job raised that is not an Exception, carried out of the event loop as a value."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def _guarded(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run an async job so that SystemExit or KeyboardInterrupt fail the job, not the shared loop.

    asyncio re-raises those two out of run_forever, which would end the loop every async job runs on.
    """
    try:
        return await coroutine
    except (SystemExit, KeyboardInterrupt) as exc:
        return _Raised(exc)


class EventLoop:
    def __init__(self, spawn: Callable[[Callable[[], None], str], threading.Thread]) -> None:
        self._spawn = spawn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run coroutine on the loop and wait for its result (or exception) in the calling thread."""
        outcome = asyncio.run_coroutine_threadsafe(_guarded(coroutine), self._event_loop()).result()
        if isinstance(outcome, _Raised):
            raise outcome.exc
        return outcome

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    new_loop = asyncio.new_event_loop()
                    self._thread = self._spawn(new_loop.run_forever, "sidequest-event-loop")
                    self._loop = new_loop
                loop = self._loop
        return loop
