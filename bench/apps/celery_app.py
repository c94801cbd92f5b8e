"""Celery: `celery -A celery_app worker -P threads -c 10`; run as a script it enqueues (no bulk API)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from celery import Celery  # noqa: E402

app = Celery("bench", broker=os.environ["BENCH_URL"])
app.conf.update(
    worker_hijack_root_logger=False, task_ignore_result=True, broker_connection_retry_on_startup=True
)


@app.task(name="bench.noop")
def noop(n: int) -> None:
    _common.noop(n)


@app.task(name="bench.latency")
def latency(enqueued_at: float) -> None:
    _common.latency(enqueued_at)


if __name__ == "__main__":
    _common.drive(
        single=lambda n: noop.delay(n) and None,
        bulk=None,
        measure_latency=lambda t: latency.delay(t) and None,
    )
