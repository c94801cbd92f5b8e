"""arq: `arq arq_app.WorkerSettings` (its defaults: max_jobs 10, poll_delay 0.5 s); run as a script it enqueues."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from arq import create_pool  # noqa: E402
from arq.connections import RedisSettings  # noqa: E402

REDIS = RedisSettings.from_dsn(os.environ["BENCH_URL"])


async def noop(ctx: dict[str, Any], n: int) -> None:
    _common.noop(n)


async def latency(ctx: dict[str, Any], enqueued_at: float) -> None:
    _common.latency(enqueued_at)


class WorkerSettings:
    functions = [noop, latency]
    redis_settings = REDIS
    max_jobs = 10


if __name__ == "__main__":
    loop = asyncio.new_event_loop()
    pool = loop.run_until_complete(create_pool(REDIS))
    _common.drive(
        single=lambda n: loop.run_until_complete(pool.enqueue_job("noop", n)) and None,
        bulk=None,
        measure_latency=lambda t: loop.run_until_complete(pool.enqueue_job("latency", t)) and None,
    )
