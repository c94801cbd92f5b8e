"""Batches: store memory per batched job, and a batched drain against a plain one. Not a test.

    python bench/batches.py                      # 100,000-job bookkeeping + 20,000-job drains, Redis
    python bench/batches.py --jobs 5000 --drain 2000 --store sqlite
    python bench/batches.py --jobs 1000 --drain 5000 --work-ms 2   # jobs that do 2 ms of waiting

Memory: a private redis-server; INFO used_memory before and after adding --jobs jids to one batch
(what the client middleware writes for each job pushed in ``batch.jobs()``), then again after every
one of them reported success, one ``batch_done`` each as workers do. Only the bookkeeping is counted,
not the jobs' own payloads in their queue.

Drain: --drain no-op jobs pushed with perform_bulk, plain or inside ``batch.jobs()``, then worked by
one in-process burst worker (-c 10) until the queue is empty and (batched) the success callback ran.
Plain and batched drains alternate, --rounds times each; the table shows the median, and the CPU
time per job of this process (the worker's threads) plus the redis-server, which a busy machine
distorts less than the rates (the SQLite run counts this process only).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_server import RedisServer  # noqa: E402

import sidequest  # noqa: E402
from sidequest import Batch, job  # noqa: E402
from sidequest.runtime.launcher import Launcher  # noqa: E402

CALLBACKS: list[str] = []


WORK_SECONDS = 0.0


@job(name="bench.batches.noop")
def noop(n: int) -> None:
    if WORK_SECONDS:
        time.sleep(WORK_SECONDS)


@job(name="bench.batches.finished")
def finished(bid: str, options: dict[str, object]) -> None:
    CALLBACKS.append(bid)


def memory(server: RedisServer, count: int) -> dict[str, float]:
    client = server.client()
    store = sidequest.get_config().store
    client.flushall()
    # warm up: load the scripts and let the allocator settle, so "before" holds only the baseline
    store.batch_create("warmup", "{}", [], time.time(), 86400, 0.001)
    store.batch_add("warmup", ["w"])
    store.batch_done("warmup", "w", "success", "", time.time())
    store.batch_state("warmup")
    time.sleep(0.1)
    client.delete(*client.keys("*"))
    before = int(client.info("memory")["used_memory"])
    store.batch_create("membench", '{"description": "memory"}', [], time.time(), 86400, 86400)
    jids = [f"{n:024x}" for n in range(count)]
    started = time.perf_counter()
    for start in range(0, count, 1000):
        store.batch_add("membench", jids[start : start + 1000])
    add_seconds = time.perf_counter() - started
    full = int(client.info("memory")["used_memory"])
    started = time.perf_counter()
    for jid in jids:
        store.batch_done("membench", jid, "success", "", time.time())
    done_seconds = time.perf_counter() - started
    after = int(client.info("memory")["used_memory"])
    return {
        "bytes_per_job": (full - before) / count,
        "bytes_left_after_success": after - before,
        "add_us_per_job": add_seconds / count * 1e6,
        "done_us_per_job": done_seconds / count * 1e6,
    }


def cpu_seconds(server: RedisServer) -> float:
    """CPU time used so far by this process (the worker's threads included) and the redis-server."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info = server.client().info("cpu")
    return usage.ru_utime + usage.ru_stime + float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def drain(count: int, batched: bool, server: RedisServer) -> tuple[float, float, float]:
    """(seconds to enqueue, seconds to drain, CPU seconds to drain) count no-op jobs."""
    args = [[n] for n in range(count)]
    started = time.perf_counter()
    if batched:
        batch = Batch(description="drain")
        batch.on("success", finished, {})
        with batch.jobs():
            noop.perform_bulk(args)
    else:
        noop.perform_bulk(args)
    enqueued = time.perf_counter()
    cpu = cpu_seconds(server)
    assert Launcher(sidequest.get_config(), burst=True).run() == 0
    drained = time.perf_counter()
    cpu = cpu_seconds(server) - cpu
    if batched:
        assert CALLBACKS and CALLBACKS[-1] == batch.bid, "the success callback did not run"
    return enqueued - started, drained - enqueued, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the memory batch (Redis)")
    parser.add_argument("--drain", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["redis", "sqlite"], default="redis")
    parser.add_argument("--work-ms", type=float, default=0.0, help="each drained job sleeps this long")
    options = parser.parse_args()
    global WORK_SECONDS
    WORK_SECONDS = options.work_ms / 1000

    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder) / "redis").start()
        try:
            url = server.url if options.store == "redis" else f"sqlite:///{Path(folder) / 'bench.db'}"
            sidequest.configure(url=server.url, concurrency=10, poll_interval=0.05)
            found = memory(server, options.jobs)
            print(f"bookkeeping of a {options.jobs:,}-job batch on Redis:")
            print(f"  {found['bytes_per_job']:.0f} bytes per pending job")
            print(f"  {found['bytes_left_after_success']:.0f} bytes left once every job succeeded")
            print(f"  batch_add {found['add_us_per_job']:.1f} us/job in chunks of 1000;")
            print(f"  batch_done {found['done_us_per_job']:.0f} us/job (one round trip each)")

            sidequest.configure(url=url, concurrency=10, poll_interval=0.05)
            times: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
            for _ in range(options.rounds):
                for batched in (False, True):
                    server.client().flushall()
                    times[batched].append(drain(options.drain, batched, server))
            kind = f"{options.work_ms:g} ms" if options.work_ms else "no-op"
            print(
                f"\n{options.drain:,} {kind} jobs on {options.store}, one worker -c 10, median of {options.rounds}:"
            )
            print(f"{'':10} {'enqueue jobs/s':>16} {'drain jobs/s':>14} {'drain CPU us/job':>18}")
            rates = {}
            for batched, label in ((False, "plain"), (True, "batched")):
                enqueue = statistics.median(t[0] for t in times[batched])
                work = statistics.median(t[1] for t in times[batched])
                cpu = statistics.median(t[2] for t in times[batched]) / options.drain * 1e6
                rates[batched] = options.drain / work
                print(
                    f"{label:10} {options.drain / enqueue:16,.0f} {options.drain / work:14,.0f} {cpu:18.0f}"
                )
            print(f"\nbatched drain: {100 * rates[True] / rates[False]:.0f} % of plain")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
