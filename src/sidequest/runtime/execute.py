"""Run one decoded payload: resolve its class, build the instance, run server middleware and perform.

This is the part of the data path shared by the worker's processor and the testing modes (inline,
drain): it raises whatever the job raises and leaves retries to the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from sidequest import registry
from sidequest.config import Config
from sidequest.middleware.chain import Chain

#: Runs a coroutine to completion and returns its result (the worker passes its own event loop's).
CoroutineRunner = Callable[[Coroutine[Any, Any, Any]], Any]


def run_job(
    payload: dict[str, Any],
    config: Config,
    *,
    chain: Chain | None = None,
    run_coroutine: CoroutineRunner | None = None,
) -> tuple[bool, Any]:
    """Run payload's job through the server middleware chain; returns (performed, result).

    performed is False when a middleware chose not to call the job. Unknown classes raise
    UnknownJobError; anything the job raises propagates unchanged.
    """
    definition = registry.lookup(payload["class"])
    instance = definition.instantiate(payload)
    args = payload.get("args", [])
    runner = run_coroutine or asyncio.run

    def perform() -> Any:
        result = definition.call(instance, args)
        if definition.is_async:
            return runner(result)
        return result

    middleware = config.server_middleware if chain is None else chain
    return middleware.invoke((instance, payload, payload.get("queue", "default")), perform)
