"""A sidequest worker on threads of the web process itself, for development and small deployments.

``sidequest worker`` is the production shape (its own processes, signals, restarts). Running the
same Launcher beside the app saves a second terminal in development: jobs run on this process's
threads, it stops cleanly when the app shuts down (running jobs get the usual timeout, unfinished
ones go back to their queues), and nothing else changes. Shared by the FastAPI and Flask helpers.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from sidequest.config import Config, get_config

logger = logging.getLogger("sidequest")


class InProcessWorker:
    """start() runs a Launcher on a background thread; stop() asks it to stop and waits for it.

    Works as a context manager (``with``) and an async one (``async with``, the stop waits on a
    thread so the event loop keeps serving).
    """

    def __init__(self, config: Config | None = None, **settings: Any) -> None:
        self._config = config
        self._settings = settings
        self._thread: threading.Thread | None = None
        self._launcher: Any = None
        self.exit_code: int | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        from sidequest.runtime.launcher import Launcher

        config = self._config or get_config()
        if self._settings:
            config.update(**self._settings)
        self._launcher = Launcher(config)
        self._thread = threading.Thread(target=self._run, name="sidequest-in-process-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.exit_code = self._launcher.run()
        except BaseException:
            logger.exception("the in-process sidequest worker stopped with an error")
            self.exit_code = 1

    def stop(self) -> None:
        """Stop fetching, wait up to the timeout setting for running jobs, push back the rest."""
        if self._thread is None:
            return
        self._launcher.request_stop()
        self._thread.join()
        self._thread = None

    def __enter__(self) -> InProcessWorker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> InProcessWorker:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)
