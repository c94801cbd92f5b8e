"""RQ: `rq worker -w rq.worker.SimpleWorker`; run as a script it enqueues (enqueue_many is its bulk)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402


def noop(n: int) -> None:
    _common.noop(n)


def latency(enqueued_at: float) -> None:
    _common.latency(enqueued_at)


if __name__ == "__main__":
    import rq_app  # jobs must be importable by name in the worker

    queue = Queue(connection=Redis.from_url(os.environ["BENCH_URL"]))

    def bulk(count: int) -> None:
        for start in range(0, count, 1000):
            queue.enqueue_many(
                [Queue.prepare_data(rq_app.noop, (n,)) for n in range(start, min(count, start + 1000))]
            )

    _common.drive(
        single=lambda n: queue.enqueue(rq_app.noop, n) and None,
        bulk=bulk,
        measure_latency=lambda t: queue.enqueue(rq_app.latency, t) and None,
    )
