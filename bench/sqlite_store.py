"""Throughput, idle cost and wake-up latency of the SQLite store; prints a markdown table.

    python bench/sqlite_store.py [--jobs 20000] [--bulk-jobs 100000] [--idle-seconds 10] [--dir DIR]

Every figure uses a fresh file in a temporary directory (or DIR, to measure another disk):
- single enqueue: ``perform_async`` one job at a time through the public API (payload, middleware, store);
- bulk enqueue: ``perform_bulk`` (1000 jobs per store call), and the store's share of it alone;
- drain: the store-level loop a worker runs, fetch 100 then ack them, until the queue is empty;
- idle fetch CPU: one thread blocked in ``fetch`` on an empty queue for the whole period, and a whole
  idle ``sidequest worker -c 10`` process (fetcher, poller, heartbeat; needs psutil);
- wake latency: time from just before a push until a waiting ``fetch`` returns the job, with the push
  made by another thread of this process, or by another process (timed by wall clock in both).
Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sidequest
from sidequest.stores.base import Beat
from sidequest.stores.sqlite import SQLiteStore

TARGETS = {"single enqueue": 10_000, "bulk enqueue": 100_000, "drain (fetch 100 + ack)": 15_000}


def alive(identity: str) -> Beat:
    return Beat(identity, "{}", 0, time.time(), False, 0, 0, 10, {}, ttl=600)


def single_enqueue(url: str, jobs: int) -> float:
    sidequest.configure(url=url)

    @sidequest.job(name="bench.sqlite_store.noop", queue="bench")
    def noop(n: int) -> None:
        return None

    noop.perform_async(-1)  # open the store outside the timed loop
    started = time.perf_counter()
    for n in range(jobs):
        noop.perform_async(n)
    return jobs / (time.perf_counter() - started)


def bulk_enqueue(url: str, jobs: int) -> float:
    sidequest.configure(url=url)

    @sidequest.job(name="bench.sqlite_store.noop_bulk", queue="bulk")
    def noop_bulk(n: int) -> None:
        return None

    args = [[n] for n in range(jobs)]
    noop_bulk.perform_bulk([[-1]])
    started = time.perf_counter()
    noop_bulk.perform_bulk(args)
    return jobs / (time.perf_counter() - started)


def noop_payload(queue: str, n: int) -> str:
    """A job as the client writes it; jids differ, as they always do in real use."""
    job = {
        "retry": True,
        "queue": queue,
        "args": [n],
        "class": "Noop",
        "jid": f"{n:024x}",
        "created_at": time.time(),
    }
    return json.dumps(job, separators=(",", ":"))


def store_bulk_push(url: str, jobs: int) -> float:
    """The store's share of bulk enqueue: push already serialised payloads, 1000 per call."""
    store = SQLiteStore(url)
    payloads = [("bulk", noop_payload("bulk", n)) for n in range(jobs)]
    started = time.perf_counter()
    for start in range(0, jobs, 1000):
        store.push(payloads[start : start + 1000])
    elapsed = time.perf_counter() - started
    store.close()
    return jobs / elapsed


def drain(url: str, jobs: int) -> float:
    store = SQLiteStore(url)
    payloads = [("drain", noop_payload("drain", n)) for n in range(jobs)]
    for start in range(0, jobs, 1000):
        store.push(payloads[start : start + 1000])
    store.beat(alive("bench:drain"))
    done = 0
    started = time.perf_counter()
    while True:
        works = store.fetch("bench:drain", ["drain"], 100)
        if not works:
            break
        done += store.ack("bench:drain", works)
    elapsed = time.perf_counter() - started
    store.close()
    assert done == jobs, f"drained {done} of {jobs}"
    return jobs / elapsed


def idle_cpu(url: str, seconds: float) -> float:
    """Percent of one core used by this process while one thread waits in fetch on an empty queue."""
    store = SQLiteStore(url)
    store.beat(alive("bench:idle"))
    stop = time.monotonic() + seconds

    def wait() -> None:
        while time.monotonic() < stop:
            store.fetch("bench:idle", ["idle"], 100, timeout=min(1.0, max(stop - time.monotonic(), 0.0)))

    waiter = threading.Thread(target=wait)
    cpu_before, wall_before = time.process_time(), time.monotonic()
    waiter.start()
    waiter.join()
    cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
    store.close()
    return 100 * cpu / wall


def idle_worker_cpu(url: str, seconds: float) -> str:
    """Percent of one core used by a whole idle ``sidequest worker`` (fetcher, poller, heartbeat, threads)."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return "n/a (needs psutil)"
    worker = subprocess.Popen(
        [sys.executable, "-m", "sidequest", "worker", "--url", url, "-c", "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process = psutil.Process(worker.pid)
        time.sleep(3)  # past start-up: imports, first heartbeat
        before, started = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, wall = process.cpu_times(), time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(60)
    used = (after.user - before.user) + (after.system - before.system)
    return f"{100 * used / wall:.2f} % of one core"


def same_process_latency(url: str, rounds: int) -> list[float]:
    store = SQLiteStore(url)
    pusher = SQLiteStore(url)  # another handle, as a web thread would have
    store.beat(alive("bench:wake"))
    returned: dict[str, float] = {}

    def wait() -> None:
        while len(returned) < rounds:
            works = store.fetch("bench:wake", ["wake"], 1, timeout=10)
            if not works:
                return
            returned[works[0].payload] = time.perf_counter()
            store.ack("bench:wake", works)

    waiter = threading.Thread(target=wait)
    waiter.start()
    pushed: dict[str, float] = {}
    for n in range(rounds):
        time.sleep(random.uniform(0.02, 0.05))  # let the waiter settle into its idle wait
        pushed[str(n)] = time.perf_counter()
        pusher.push([("wake", str(n))])
    waiter.join()
    pusher.close()
    store.close()
    return [returned[key] - pushed[key] for key in pushed]


CROSS_PUSHER = """
import random, sys, time
from sidequest.stores.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
for n in range(int(sys.argv[2])):
    time.sleep(random.uniform(0.05, 0.1))  # leave the fetcher idle before each push
    store.push([("cross", repr(time.time()))])
store.close()
"""


def cross_process_latency(url: str, rounds: int) -> list[float]:
    store = SQLiteStore(url)
    store.beat(alive("bench:cross"))
    child = subprocess.Popen([sys.executable, "-c", CROSS_PUSHER, url, str(rounds)])
    latencies: list[float] = []
    while len(latencies) < rounds:
        works = store.fetch("bench:cross", ["cross"], 1, timeout=10)
        arrived = time.time()
        if not works:
            break
        latencies.extend(arrived - float(work.payload) for work in works)
        store.ack("bench:cross", works)
    child.wait(30)
    store.close()
    return latencies


def summary(latencies: list[float]) -> str:
    ms = sorted(value * 1000 for value in latencies)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs for single enqueue and drain")
    parser.add_argument("--bulk-jobs", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=50, help="pushes per wake-latency measurement")
    parser.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files (default: a temp dir)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=options.dir) as tmp:

        def url(name: str) -> str:
            return f"sqlite:///{Path(tmp) / name}.db?synchronous={options.synchronous}"

        rows = [
            ("single enqueue", f"{single_enqueue(url('single'), options.jobs):,.0f} jobs/s"),
            ("bulk enqueue", f"{bulk_enqueue(url('bulk'), options.bulk_jobs):,.0f} jobs/s"),
            (
                "bulk push, store only (1000 per call)",
                f"{store_bulk_push(url('bulk-store'), options.bulk_jobs):,.0f} jobs/s",
            ),
            ("drain (fetch 100 + ack)", f"{drain(url('drain'), options.jobs):,.0f} jobs/s"),
            (
                f"idle fetch CPU over {options.idle_seconds:g} s",
                f"{idle_cpu(url('idle'), options.idle_seconds):.2f} % of one core",
            ),
            (
                f"idle `sidequest worker -c 10` CPU over {options.idle_seconds:g} s",
                idle_worker_cpu(url("worker"), options.idle_seconds),
            ),
            (
                "wake latency, push from this process",
                summary(same_process_latency(url("wake"), options.rounds)),
            ),
            (
                "wake latency, push from another process",
                summary(cross_process_latency(url("cross"), options.rounds)),
            ),
        ]
    print(
        f"SQLite store, synchronous={options.synchronous}: Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs\n"
    )
    print("| measurement | result | target |")
    print("|---|---|---|")
    for name, result in rows:
        target = TARGETS.get(name)
        print(f"| {name} | {result} | {f'{target:,} jobs/s' if target else ''} |")


if __name__ == "__main__":
    main()
