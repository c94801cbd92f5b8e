"""Dramatiq: `dramatiq dramatiq_app -p 1 -t 10`; run as a script it enqueues (no bulk API)."""

from __future__ import annotations

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import dramatiq  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402

logging.getLogger("dramatiq").setLevel(logging.WARNING)
dramatiq.set_broker(RedisBroker(url=os.environ["BENCH_URL"]))


@dramatiq.actor(max_retries=0)
def noop(n: int) -> None:
    _common.noop(n)


@dramatiq.actor(max_retries=0)
def latency(enqueued_at: float) -> None:
    _common.latency(enqueued_at)


if __name__ == "__main__":
    _common.drive(single=noop.send, bulk=None, measure_latency=latency.send)
