"""SAQ: `saq saq_app.settings` (concurrency 10 in the settings, its CLI logs at WARNING); run as a script it enqueues.

SAQ has no enqueue-only bulk API (``Queue.map`` enqueues and then waits for every result), so no bulk.
Started on a full queue, SAQ's first sweep can catch a job already moved to its active list but not yet
marked active, and retry it: that job runs twice (the ledger ends a byte or two over N; the drain stops at N).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from saq import Queue  # noqa: E402

queue = Queue.from_url(os.environ["BENCH_URL"])


async def noop(ctx: dict[str, Any], *, n: int) -> None:
    _common.noop(n)


async def latency(ctx: dict[str, Any], *, enqueued_at: float) -> None:
    _common.latency(enqueued_at)


settings = {"queue": queue, "functions": [noop, latency], "concurrency": 10}


if __name__ == "__main__":
    loop = asyncio.new_event_loop()
    _common.drive(
        single=lambda n: loop.run_until_complete(queue.enqueue("noop", n=n)) and None,
        bulk=None,
        measure_latency=lambda t: loop.run_until_complete(queue.enqueue("latency", enqueued_at=t)) and None,
    )
