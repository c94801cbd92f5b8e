"""Run an ``async def`` job's coroutine from testing code, whether or not an event loop is running.

Fake and inline modes run jobs in the caller's thread. From plain code that is ``asyncio.run``; from an
async test (pytest-asyncio, anyio, FastAPI's test client) a loop is already running in this thread and
``asyncio.run`` refuses. Then the job runs on a private event loop in a helper thread while the caller
waits: the job's own awaits work, but it must not use objects bound to the test's loop (as in a worker,
where jobs run on the worker's loop, not the app's).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run coroutine to completion and return its result; its exception propagates."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    helper = threading.Thread(target=run, name="sidequest-testing-loop", daemon=True)
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
