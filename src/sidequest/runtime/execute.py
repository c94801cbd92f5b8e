"""Run one decoded payload: resolve its class and instance once, then perform it through server middleware.

This is the part of the data path shared by the worker's processor and the testing modes (inline,
drain). ``resolve`` builds the one instance a run uses; the caller keeps it and hands it to
retry.decide, so a class job's ``retry_in`` and ``retries_exhausted`` run on the instance that
performed (jid and payload set), the same in the worker and in fake mode. ``perform`` raises whatever
the job raises and leaves retries to the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from sidequest import registry
from sidequest.config import Config
from sidequest.job import JobDefinition
from sidequest.middleware.chain import Chain

#: Runs a coroutine to completion and returns its result (the worker passes its own event loop's).
CoroutineRunner = Callable[[Coroutine[Any, Any, Any]], Any]


def resolve(payload: dict[str, Any]) -> tuple[JobDefinition, Any]:
    """The registered job for payload's class and the instance to run it on (UnknownJobError if none)."""
    definition = registry.lookup(payload["class"])
    return definition, definition.instantiate(payload)


def perform(
    definition: JobDefinition,
    instance: Any,
    payload: dict[str, Any],
    config: Config,
    *,
    chain: Chain | None = None,
    run_coroutine: CoroutineRunner | None = None,
) -> tuple[bool, Any]:
    """Run the job through the server middleware chain; returns (performed, result).

    performed is False when a middleware chose not to call the job. Anything the job raises
    propagates unchanged.
    """
    args = payload.get("args", [])
    runner = run_coroutine or asyncio.run

    def call() -> Any:
        result = definition.call(instance, args)
        if definition.is_async:
            return runner(result)
        return result

    middleware = config.server_middleware if chain is None else chain
    return middleware.invoke((instance, payload, payload.get("queue", "default")), call)


def run_job(
    payload: dict[str, Any],
    config: Config,
    *,
    chain: Chain | None = None,
    run_coroutine: CoroutineRunner | None = None,
) -> tuple[bool, Any]:
    """resolve then perform, for callers that record no failure (perform_job)."""
    definition, instance = resolve(payload)
    return perform(definition, instance, payload, config, chain=chain, run_coroutine=run_coroutine)
