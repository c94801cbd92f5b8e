"""What every Python app of the benchmark shares: the ledger, the latency file and the 1 ms CPU burn.

A no-op job appends one byte to $BENCH_LEDGER (so the runner counts completions by file size); a
latency job appends "seconds since enqueue" to $BENCH_LATENCY; a burn job spins 1 ms of CPU time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

#: Latency jobs the runner leaves out of its figures (connecting, loading scripts, the worker warming up).
WARM_UP = 10


def _open(variable: str) -> int:
    return os.open(os.environ.get(variable, os.devnull), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


_LEDGER = _open("BENCH_LEDGER")
_LATENCY = _open("BENCH_LATENCY")


def noop(n: int) -> None:
    os.write(_LEDGER, b".")


def latency(enqueued_at: float) -> None:
    os.write(_LATENCY, f"{time.time() - enqueued_at:.6f}\n".encode())


def burn(n: int) -> None:
    until = time.thread_time() + 0.001
    while time.thread_time() < until:
        pass
    os.write(_LEDGER, b".")


def latency_lines() -> int:
    path = os.environ["BENCH_LATENCY"]
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as file:
        return file.read().count(b"\n")


def drive(
    single: Callable[[int], None],
    bulk: Callable[[int], None] | None,
    measure_latency: Callable[[float], None],
    schedule: Callable[[float], None] | None = None,
) -> None:
    """The enqueue side: ``app.py single|bulk|latency|schedule N``; prints {"seconds": ...} as JSON.

    latency enqueues one job at a time and waits until it has started before the next (an idle worker);
    it also reports "enqueue_cpu", the CPU seconds the enqueue calls alone took (polling for the reply
    included, the waiting between jobs and the first WARM_UP calls, which connect and import, left out).
    """
    mode, count = sys.argv[1], int(sys.argv[2])
    if mode in ("single", "bulk"):
        # connect, load scripts and import lazily loaded modules outside the timed part (the job
        # only writes to the latency file, which is cleared before latency is measured)
        measure_latency(time.time())
    started = time.perf_counter()
    enqueue_cpu = 0.0
    if mode == "single":
        for n in range(count):
            single(n)
    elif mode == "bulk":
        if bulk is None:
            raise SystemExit("no bulk enqueue")
        bulk(count)
    elif mode == "latency":
        for n in range(count):
            time.sleep(0.005)
            cpu = time.thread_time()
            measure_latency(time.time())
            if n >= WARM_UP:
                enqueue_cpu += time.thread_time() - cpu
            deadline = time.monotonic() + 10
            while latency_lines() < n + 1:
                if time.monotonic() > deadline:
                    raise SystemExit(f"latency job {n} did not run within 10 s")
                time.sleep(0.0002)
    elif mode == "schedule":
        if schedule is None:
            raise SystemExit("no scheduled jobs")
        for n in range(count):
            schedule(time.time() + 1.0 + n * 0.01)
    print(json.dumps({"seconds": time.perf_counter() - started, "enqueue_cpu": enqueue_cpu}))
