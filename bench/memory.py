"""Memory: does a worker's RSS stay flat over a million jobs? Prints the RSS curve. Not a test.

    python bench/memory.py                         # 1,000,000 no-op + 100,000 failing jobs on Redis
    python bench/memory.py --noop 200000 --failing 20000 --store sqlite

One `sidequest worker` process (-c 10, WARNING logs to /dev/null) works a private redis-server (or
an SQLite file) fed in waves of ten no-op jobs to one failing job, the failing ones spread evenly
through each wave (retry=0, so each failure builds a retry decision, runs the death handlers and
lands in the dead set, which the store trims to 10,000).
The worker's RSS is sampled from outside with psutil; the baseline is the first sample after
10,000 jobs. The run passes when no later sample is more than 20 % above the baseline.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_server import RedisServer  # noqa: E402

from sidequest.client import Client  # noqa: E402
from sidequest.config import Config  # noqa: E402
from sidequest.stores import open_store  # noqa: E402

JOBS = """
from sidequest import job


@job(name="bench.noop")
def noop(n):
    pass


@job(name="bench.fail")
def fail(n):
    raise ValueError(f"job {n} fails on purpose")
"""

WAVE = 11_000  # 10,000 no-op + 1,000 failing when the mix is 10:1
BASELINE_AT = 10_000
LIMIT = 1.20


def interleaved(noops: int, failing: int) -> list[tuple[str, int]]:
    """Runs of (job name, count) that spread the failing jobs evenly among the no-ops, so the
    baseline (the first 10,000 jobs) has already run the failure path, as every later sample has."""
    total = noops + failing
    runs: list[tuple[str, int]] = []
    for index in range(total):
        fails = failing and (index + 1) * failing // total > index * failing // total
        name = "bench.fail" if fails else "bench.noop"
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + 1)
        else:
            runs.append((name, 1))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--noop", type=int, default=1_000_000)
    parser.add_argument("--failing", type=int, default=100_000)
    parser.add_argument("--store", choices=["redis", "sqlite"], default="redis")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--every", type=int, default=50_000, help="print a sample every this many jobs")
    options = parser.parse_args()
    total = options.noop + options.failing

    with tempfile.TemporaryDirectory(prefix="sidequest-memory-") as scratch:
        root = Path(scratch)
        (root / "bench_memory_jobs.py").write_text(JOBS)
        (root / "worker.toml").write_text("heartbeat_interval = 1\nprocess_ttl = 10\n")
        server = RedisServer(root / "redis").start() if options.store == "redis" else None
        url = server.url if server else f"sqlite:///{root / 'memory.db'}"
        store = open_store(url)
        config = Config()
        config.use_store(store)
        client = Client(config)
        command = [
            sys.executable, "-m", "sidequest", "worker", "-r", str(root / "bench_memory_jobs.py"),
            "--url", url, "-C", str(root / "worker.toml"), "-c", str(options.concurrency),
            "--log-level", "WARNING",
        ]  # fmt: skip
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "SIDEQUEST_URL", "SIDEQUEST_REDIS_URL")
        }
        worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        process = psutil.Process(worker.pid)
        samples: list[tuple[int, float, float]] = []  # (jobs done, RSS MB, seconds)
        started = time.monotonic()
        noop_left, failing_left, serial = options.noop, options.failing, 0
        next_sample = BASELINE_AT
        try:
            print(f"{'jobs done':>10} | {'RSS MB':>7} | {'vs baseline':>11} | {'seconds':>7}", flush=True)
            while True:
                # the first wave is the baseline's 10,000 jobs alone, so the baseline is sampled after
                # exactly those; later waves keep the queue topped up
                first = serial == 0
                if (noop_left or failing_left) and (
                    first or (samples and store.queue_size("default") < WAVE)
                ):
                    size = BASELINE_AT if first else WAVE
                    failing = min(failing_left, max(1, size // 11) if options.failing else 0)
                    noops = min(noop_left, size - failing)
                    for name, count in interleaved(noops, failing):
                        args = [[serial + n] for n in range(count)]
                        client.push_bulk_jobs(name, args, {"queue": "default", "retry": 0})
                        serial += count
                    noop_left -= noops
                    failing_left -= failing
                done = store.counters().processed
                if done >= next_sample or done >= total:
                    rss = process.memory_info().rss / 1024 / 1024
                    samples.append((done, rss, time.monotonic() - started))
                    base = samples[0][1]
                    print(
                        f"{done:>10,} | {rss:>7.1f} | {100 * (rss / base - 1):>+10.1f}% | {samples[-1][2]:>7.1f}",
                        flush=True,
                    )
                    next_sample = (done // options.every + 1) * options.every
                if done >= total:
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with {worker.returncode}")
                time.sleep(0.05)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            store.close()
            if server:
                server.stop()

    base = samples[0][1]
    peak = max(rss for _, rss, _ in samples)
    final = samples[-1][1]
    ok = peak <= base * LIMIT
    print(
        f"\n{total:,} jobs ({options.noop:,} no-op, {options.failing:,} failing) on {options.store} in "
        f"{samples[-1][2]:.0f}s: baseline {base:.1f} MB after {samples[0][0]:,} jobs, peak {peak:.1f} MB "
        f"({100 * (peak / base - 1):+.1f}%), final {final:.1f} MB: {'within' if ok else 'ABOVE'} 20 %"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
