"""taskiq: `taskiq worker taskiq_app:broker` (its defaults: 2 processes, up to 100 async tasks each); run as a
script it enqueues (taskiq has no bulk API).

The broker is taskiq-redis's RedisStreamBroker, the one that gives at-least-once: a consumer group reads
the stream and a message is acknowledged (XACK) after the task has run (taskiq's default ack type,
when_saved); unacknowledged ones are claimed again after idle_timeout. ListQueueBroker (BRPOP) loses
the jobs a worker had taken when it dies, and PubSubBroker loses anything sent while no worker listens.
consumer_id "0": the group reads the stream from its start, since the bench enqueues before the worker
starts (taskiq's default "$" would skip those jobs).
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from taskiq_redis import RedisStreamBroker  # noqa: E402

broker = RedisStreamBroker(url=os.environ["BENCH_URL"], consumer_id="0")


@broker.task(task_name="bench.noop")
async def noop(n: int) -> None:
    _common.noop(n)


@broker.task(task_name="bench.latency")
async def latency(enqueued_at: float) -> None:
    _common.latency(enqueued_at)


if __name__ == "__main__":
    loop = asyncio.new_event_loop()
    loop.run_until_complete(broker.startup())
    _common.drive(
        single=lambda n: loop.run_until_complete(noop.kiq(n)) and None,
        bulk=None,
        measure_latency=lambda t: loop.run_until_complete(latency.kiq(t)) and None,
    )
