"""sidequest: the worker loads this with -r; run as a script it enqueues (see _common.drive)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

import sidequest  # noqa: E402


@sidequest.job(name="bench.noop", queue="default")
def noop(n: int) -> None:
    _common.noop(n)


@sidequest.job(name="bench.latency", queue="default")
def latency(enqueued_at: float) -> None:
    _common.latency(enqueued_at)


@sidequest.job(name="bench.scheduled", queue="default")
def scheduled(run_at: float) -> None:
    _common.latency(run_at)


@sidequest.job(name="bench.burn", queue="default")
def burn(n: int) -> None:
    _common.burn(n)


if __name__ == "__main__":
    # the load extra's variants (bench/run.py): never poll for the push reply, or poll whatever the load
    if os.environ.get("BENCH_SPIN") in ("never", "always"):
        from sidequest.stores.redis import spin

        if os.environ["BENCH_SPIN"] == "never":
            spin.SPIN_SECONDS = 0.0
        else:
            spin.IDLE_CORES_TO_SPIN = 0.0
    sidequest.configure(url=os.environ["BENCH_URL"])
    job = burn if os.environ.get("BENCH_JOB") == "burn" else noop
    _common.drive(
        single=job.perform_async,
        bulk=lambda count: job.perform_bulk([[n] for n in range(count)]),
        measure_latency=latency.perform_async,
        schedule=lambda when: scheduled.perform_at(when, when) and None,
    )
