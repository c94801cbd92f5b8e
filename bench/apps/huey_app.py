"""Huey: `huey_consumer huey_app.huey -w 10 -k thread`; run as a script it enqueues (no bulk API)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from huey import RedisHuey  # noqa: E402

huey = RedisHuey("bench", url=os.environ["BENCH_URL"], results=False)


@huey.task()
def noop(n: int) -> None:
    _common.noop(n)


@huey.task()
def latency(enqueued_at: float) -> None:
    _common.latency(enqueued_at)


if __name__ == "__main__":
    import huey_app  # tasks are registered under their module's name, which the consumer imports

    _common.drive(single=huey_app.noop, bulk=None, measure_latency=huey_app.latency)
