"""Run sidequest and its peers side by side and publish the numbers: ``python bench/run.py``.

Each system gets its own private redis-server (a free port in a temp dir, no persistence) per run and
the same work: N no-op jobs, each appending one byte to a ledger file (the runner counts completions
by the file's size), one worker process with 10 threads unless noted (Celery prefork, Dramatiq's and
taskiq's defaults run several processes). Figures are medians of --runs.

- single enqueue: N jobs one call at a time; these are also the drain input when there is no bulk API;
- bulk enqueue: N jobs through the system's bulk API (1000 per call), where it has one;
- drain: jobs/s from the first ledger byte to the last, the worker started on a full queue;
- idle RSS: the worker's process tree, 3 s after start on an empty queue;
- latency: enqueue -> start of one job at a time on that idle worker (5 ms apart), p50 / p99.

Extras (sidequest, and Ruby Sidekiq where noted): SQLite store; scheduled-job lateness; --processes 2
with jobs burning 1 ms of CPU; the same drain and enqueues behind bench/proxy.py adding a round trip.

Peers run from bench/.venv-peers, created and filled from PyPI on first use (versions pinned in bench/run.py);
Ruby Sidekiq is Debian's ruby-sidekiq when ``sidekiq`` is on PATH. ``--out`` writes docs/benchmarks.md
and a PNG chart beside it. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APPS = BENCH / "apps"
PEERS_VENV = BENCH / ".venv-peers"
PEER_PACKAGES = [
    "celery==5.7.0",
    "kombu==5.7.0",
    "rq==3.0.0",
    "dramatiq==2.2.1",
    "huey==3.5.4",
    "saq==0.26.4",
    "taskiq==0.13.0",
    "redis==6.4.0",
    "hiredis",
    "matplotlib==3.11.2",
]
# These go in last without their dependency pins, on the redis above:
# - arq 0.28 pins redis < 6 while kombu 5.7 (Celery) needs >= 6.1; arq runs fine on 6.4;
# - taskiq-redis 1.2.4 pins redis >= 8 (1.2.0 pins 7.0.x) while SAQ 0.26 needs < 8, and 1.1.x, the last
#   on redis 6, imports helpers that taskiq 0.13 removed; every redis-py call of 1.2.4 exists in 6.4
PEER_NO_DEPS = ["arq==0.28.0", "taskiq-redis==1.2.4"]
#: Text after this line in the report is written by hand and kept when the bench rewrites the report.
NOTES_MARKER = "<!-- notes below are written by hand; bench/run.py keeps them -->"
ALL_SYSTEMS = [
    "sidequest",
    "sidequest-sqlite",
    "sidekiq",
    "dramatiq",
    "dramatiq-default",
    "huey",
    "celery",
    "celery-prefork",
    "rq",
    "arq",
    "saq",
    "taskiq",
]


# ---- private servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


@contextmanager
def redis_server(directory: Path, delay_ms: float = 0.0) -> Iterator[str]:
    """A private redis-server (never the shared one); with delay_ms, reached through bench/proxy.py."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(directory), "--protected-mode", "no", "--daemonize", "no"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        wait_port(port)
        url_port = port
        if delay_ms:
            url_port = free_port()
            proxy = subprocess.Popen(
                [sys.executable, str(BENCH / "proxy.py"), str(url_port), str(port), str(delay_ms)],
                stdout=subprocess.DEVNULL,
            )
            wait_port(url_port)
        yield f"redis://127.0.0.1:{url_port}/0"
    finally:
        for process in (proxy, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()


def ping_ms(url: str, count: int = 50) -> float:
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - started) * 1000)
    client.close()
    return statistics.median(samples)


def calibrate_delay(target_ms: float) -> tuple[float, float]:
    """The proxy's per-direction delay whose PING round trip first reaches target_ms, and that round trip.

    The proxy's own hops cost a few hundred microseconds (thread wake-ups), so the delay set is less
    than half the target; the round trip reported is the one measured.
    """
    measured = float("nan")
    delay = 0.05
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-") as name:
        while delay < target_ms:
            with redis_server(Path(name), delay) as url:
                measured = ping_ms(url, 200)
            if measured >= target_ms:
                break
            delay = round(delay + 0.05, 2)
    return delay, measured


# ---- the systems -----------------------------------------------------------------------------------
@dataclass
class System:
    name: str
    label: str
    python: str  # interpreter running the app script ("ruby" for Sidekiq)
    app: str  # file in bench/apps
    worker: Callable[[str], list[str]]  # worker argv for a store URL
    bulk: bool
    drain_jobs: int = 0  # 0: --jobs; fewer for peers too slow to drain 20,000 in reasonable time
    latency_samples: int = 0  # 0: --latency-samples; fewer for a peer that polls (arq: 0.5 s each)
    note: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def enqueue(self, url: str, mode: str, count: int, workdir: Path, extra_env: dict[str, str]) -> float:
        argv = ["ruby", self.app] if self.python == "ruby" else [self.python, self.app]
        result = subprocess.run(
            [*argv, mode, str(count)],
            cwd=APPS,
            env=self.environment(url, workdir, extra_env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} {mode} enqueue failed:\n{result.stdout}\n{result.stderr}")
        return float(json.loads(result.stdout.strip().splitlines()[-1])["seconds"])

    def environment(self, url: str, workdir: Path, extra_env: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "SIDEQUEST"))}
        env.update(
            BENCH_URL=url,
            REDIS_URL=url,
            BENCH_LEDGER=str(workdir / "ledger"),
            BENCH_LATENCY=str(workdir / "latency"),
            # after the apps, any PYTHONPATH given (e.g. another checkout's src, to measure it)
            PYTHONPATH=os.pathsep.join(filter(None, [str(APPS), os.environ.get("PYTHONPATH", "")])),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(self.env)
        env.update(extra_env)
        return env


def peer_bin(name: str) -> str:
    return str(PEERS_VENV / "bin" / name)


def sidequest_worker(*extra: str) -> Callable[[str], list[str]]:
    def argv(url: str) -> list[str]:
        base = [sys.executable, "-m", "sidequest", "worker", "-r", "sidequest_app.py", "--url", url]
        return [*base, "-c", "10", "--log-level", "warning", *extra]

    return argv


def celery_worker(pool: str) -> Callable[[str], list[str]]:
    def argv(url: str) -> list[str]:
        return [peer_bin("celery"), "-A", "celery_app", "worker", "-P", pool, "-c", "10", "-l", "WARNING"]

    return argv


def systems() -> dict[str, System]:
    peer_python = peer_bin("python")
    return {
        "sidequest": System(
            "sidequest",
            "sidequest (-c 10, WARN)",
            sys.executable,
            "sidequest_app.py",
            sidequest_worker(),
            True,
        ),
        "sidequest-sqlite": System(
            "sidequest-sqlite",
            "sidequest on SQLite (-c 10, WARN)",
            sys.executable,
            "sidequest_app.py",
            sidequest_worker(),
            True,
        ),
        "sidequest-info": System(
            "sidequest-info",
            "sidequest (-c 10, default INFO logging to a file)",
            sys.executable,
            "sidequest_app.py",
            # the same worker without --log-level: INFO, a start and a done line per job on stderr
            lambda url: sidequest_worker()(url)[:-2],
            True,
        ),
        "sidekiq": System(
            "sidekiq",
            f"Ruby Sidekiq {sidekiq_version()} (-c 10, WARN)",
            "ruby",
            "sidekiq_app.rb",
            lambda url: ["sidekiq", "-r", "./sidekiq_app.rb", "-c", "10", "-q", "default"],
            True,
        ),
        "sidekiq-info": System(
            "sidekiq-info",
            f"Ruby Sidekiq {sidekiq_version()} (-c 10, default INFO logging to a file)",
            "ruby",
            "sidekiq_app.rb",
            lambda url: ["sidekiq", "-r", "./sidekiq_app.rb", "-c", "10", "-q", "default"],
            True,
            env={"BENCH_SIDEKIQ_LOG_LEVEL": "INFO"},
        ),
        "dramatiq": System(
            "dramatiq",
            f"Dramatiq {peer_version('dramatiq')} (-p 1 -t 10)",
            peer_python,
            "dramatiq_app.py",
            lambda url: [peer_bin("dramatiq"), "dramatiq_app", "-p", "1", "-t", "10"],
            False,
        ),
        "dramatiq-default": System(
            "dramatiq-default",
            # its CLI's defaults: one process per CPU, 8 threads each
            f"Dramatiq {peer_version('dramatiq')} (defaults: -p {os.cpu_count()} -t 8)",
            peer_python,
            "dramatiq_app.py",
            lambda url: [peer_bin("dramatiq"), "dramatiq_app"],
            False,
        ),
        "huey": System(
            "huey",
            f"Huey {peer_version('huey')} (-w 10 -k thread)",
            peer_python,
            "huey_app.py",
            lambda url: [peer_bin("huey_consumer"), "huey_app.huey", "-w", "10", "-k", "thread", "-q"],
            False,
        ),
        "celery": System(
            "celery",
            f"Celery {peer_version('celery')} (-P threads -c 10)",
            peer_python,
            "celery_app.py",
            celery_worker("threads"),
            False,
            drain_jobs=5000,
        ),
        "celery-prefork": System(
            "celery-prefork",
            f"Celery {peer_version('celery')} (-P prefork -c 10)",
            peer_python,
            "celery_app.py",
            celery_worker("prefork"),
            False,
            drain_jobs=5000,
        ),
        "rq": System(
            "rq",
            f"RQ {peer_version('rq')} (SimpleWorker)",
            peer_python,
            "rq_app.py",
            lambda url: [peer_bin("rq"), "worker", "-w", "rq.worker.SimpleWorker", "--url", url, "-q"],
            True,
            drain_jobs=2000,
        ),
        "arq": System(
            "arq",
            f"arq {peer_version('arq')} (defaults: max_jobs 10, polls)",
            peer_python,
            "arq_app.py",
            lambda url: [peer_bin("arq"), "arq_app.WorkerSettings"],
            False,
            drain_jobs=2000,
            latency_samples=20,
        ),
        "saq": System(
            "saq",
            f"SAQ {peer_version('saq')} (concurrency 10, asyncio)",
            peer_python,
            "saq_app.py",
            lambda url: [peer_bin("saq"), "saq_app.settings"],
            False,
            drain_jobs=5000,
        ),
        "taskiq": System(
            "taskiq",
            f"taskiq {peer_version('taskiq')} (RedisStreamBroker, at-least-once; defaults: 2 processes)",
            peer_python,
            "taskiq_app.py",
            lambda url: [peer_bin("taskiq"), "worker", "taskiq_app:broker", "--log-level", "WARNING"],
            False,
        ),
    }


def peer_version(package: str) -> str:
    for line in PEER_PACKAGES + PEER_NO_DEPS:
        if line.startswith(package + "=="):
            return line.split("==")[1]
    return "?"


def sidekiq_version() -> str:
    if shutil.which("ruby") is None:
        return "?"
    out = subprocess.run(
        ["ruby", "-e", 'require "sidekiq"; print Sidekiq::VERSION'], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


def ensure_peers() -> None:
    """Create bench/.venv-peers from PyPI once (pinned versions); nothing of it is committed."""
    python = PEERS_VENV / "bin" / "python"
    marker = PEERS_VENV / "installed.txt"
    wanted = "\n".join(PEER_PACKAGES + PEER_NO_DEPS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return
    print(f"installing peers into {PEERS_VENV.relative_to(ROOT)} ...", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *PEER_NO_DEPS], check=True)
    marker.write_text(wanted)


# ---- processes -------------------------------------------------------------------------------------
def start_worker(
    system: System, url: str, workdir: Path, extra_env: dict[str, str], argv: list[str] | None = None
) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{system.name}-worker.log", "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        argv or system.worker(url),
        cwd=APPS,
        env=system.environment(url, workdir, extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """TERM the worker's process group (ours alone: started in its own session), KILL after 10 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    with contextlib.suppress(
        ProcessLookupError, PermissionError
    ):  # children left behind (pools, supervisors)
        os.killpg(process.pid, signal.SIGKILL)


def tree_rss_mb(pid: int) -> float:
    """VmRSS of pid and all its descendants, in MB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    family, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in family:
                family.add(child)
                frontier.append(child)
    total_kb = 0
    for member in family:
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def ledger_size(workdir: Path) -> int:
    try:
        return (workdir / "ledger").stat().st_size
    except FileNotFoundError:
        return 0


def wait_drain(workdir: Path, count: int, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Jobs/s from the first ledger byte to the count-th (or to the timeout, over what finished)."""
    first: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout
    size = 0
    while True:
        size = ledger_size(workdir)
        clock = time.perf_counter()
        if size and first is None:
            first = (clock, size)
        if size >= count:
            break
        if time.monotonic() > deadline or process.poll() is not None:
            print(f"  drain stopped at {size}/{count} jobs", file=sys.stderr)
            break
        time.sleep(0.002)
    if first is None or clock <= first[0]:
        return 0.0
    return (size - first[1]) / (clock - first[0])


def latencies(workdir: Path, skip: int) -> list[float]:
    path = workdir / "latency"
    values = [float(line) * 1000 for line in path.read_text().split()] if path.exists() else []
    return sorted(values[skip:])


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


# ---- one run of one system ---------------------------------------------------------------------------
@dataclass
class Result:
    drain: float = float("nan")
    single: float = float("nan")
    bulk: float = float("nan")
    rss: float = float("nan")
    p50: float = float("nan")
    p99: float = float("nan")


@contextmanager
def store_for(system: System, tmp: Path, delay_ms: float = 0.0) -> Iterator[str]:
    if system.name == "sidequest-sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    with redis_server(tmp / "redis", delay_ms) as url:
        yield url


def clear(system: System, url: str, workdir: Path) -> None:
    if url.startswith("sqlite:"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    else:
        flush(url)
    for name in ("ledger", "latency"):
        (workdir / name).unlink(missing_ok=True)


def run_once(system: System, jobs: int, samples: int, delay_ms: float = 0.0, idle: bool = True) -> Result:
    result = Result()
    count = system.drain_jobs and min(system.drain_jobs, jobs) or jobs
    with tempfile.TemporaryDirectory(prefix=f"bench-{system.name}-") as name:
        tmp = Path(name)
        with store_for(system, tmp, delay_ms) as url:
            result.single = count / system.enqueue(url, "single", count, tmp, {})
            if system.bulk:
                clear(system, url, tmp)
                result.bulk = count / system.enqueue(url, "bulk", count, tmp, {})
            worker = start_worker(system, url, tmp, {})
            try:
                result.drain = wait_drain(tmp, count, worker, timeout=max(60.0, count / 50))
            finally:
                stop_worker(worker)
            if not idle:
                return result
            clear(system, url, tmp)
            worker = start_worker(system, url, tmp, {})
            try:
                time.sleep(3)
                result.rss = tree_rss_mb(worker.pid)
                samples = system.latency_samples and min(system.latency_samples, samples) or samples
                system.enqueue(url, "latency", samples + 10, tmp, {})
                values = latencies(tmp, skip=10)
                result.p50, result.p99 = percentile(values, 0.5), percentile(values, 0.99)
            finally:
                stop_worker(worker)
    return result


def median_result(results: list[Result]) -> Result:
    def med(values: list[float]) -> float:
        real = [v for v in values if v == v]
        return statistics.median(real) if real else float("nan")

    return Result(
        *(
            med([getattr(r, name) for r in results])
            for name in ("drain", "single", "bulk", "rss", "p50", "p99")
        )
    )


# ---- extras: sidequest only (and Sidekiq where it has the feature) -------------------------------------
def scheduled_lateness(system: System, count: int) -> tuple[float, float]:
    """Jobs scheduled 10 ms apart from 1 s ahead; p50 / p99 of start - scheduled time, in ms."""
    with tempfile.TemporaryDirectory(prefix="bench-scheduled-") as name:
        tmp = Path(name)
        with redis_server(tmp / "redis") as url:
            worker = start_worker(system, url, tmp, {})
            try:
                time.sleep(2)
                system.enqueue(url, "schedule", count, tmp, {})
                deadline = time.monotonic() + count * 0.01 + 15
                while len(latencies(tmp, 0)) < count and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                stop_worker(worker)
            values = latencies(tmp, 0)
    return percentile(values, 0.5), percentile(values, 0.99)


def burn_throughput(system: System, processes: int, count: int) -> float:
    """Drain jobs/s for jobs that burn 1 ms of CPU each, with --processes N."""
    with tempfile.TemporaryDirectory(prefix="bench-burn-") as name:
        tmp = Path(name)
        with redis_server(tmp / "redis") as url:
            env = {"BENCH_JOB": "burn"}
            system.enqueue(url, "bulk", count, tmp, env)
            argv = [*system.worker(url), "--processes", str(processes)]
            worker = start_worker(system, url, tmp, env, argv)
            try:
                return wait_drain(tmp, count, worker, timeout=120)
            finally:
                stop_worker(worker)


# ---- report -----------------------------------------------------------------------------------------
def fmt(value: float, digits: int = 0) -> str:
    if value != value:
        return "none"
    return f"{value:,.{digits}f}"


def table(rows: list[tuple[System, Result, int]]) -> str:
    lines = [
        "| system | jobs | drain, jobs/s | single enqueue, jobs/s | bulk enqueue, jobs/s | idle RSS, MB | latency p50 / p99, ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, result, count in rows:
        latency = "not measured" if result.p50 != result.p50 else f"{result.p50:.2f} / {result.p99:.2f}"
        lines.append(
            f"| {system.label} | {count:,} | {fmt(result.drain)} | {fmt(result.single)} | "
            f"{fmt(result.bulk)} | {fmt(result.rss)} | {latency} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.strip()
    from sidequest import __version__

    return {
        "uname -a": " ".join(platform.uname()),
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "Python": platform.python_version(),
        "redis-server": redis_version,
        "sidequest": __version__,
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def chart(rows: list[tuple[System, Result, int]], path: Path) -> bool:
    """A bar chart of drain throughput, drawn by matplotlib from the peers' venv."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        return False
    # a bar is named by its label up to the options, or by the whole label where two systems share that
    # (Celery's pools, Dramatiq's settings)
    names = [system.label.split(" (")[0] for system, _, _ in rows]
    data = [
        (name if names.count(name) == 1 else system.label, result.drain)
        for name, (system, result, _) in zip(names, rows, strict=True)
        if result.drain == result.drain
    ]
    script = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
data, path = json.loads(sys.argv[1]), sys.argv[2]
names, values = [d[0] for d in data], [d[1] for d in data]
fig, ax = plt.subplots(figsize=(9, 0.5 * len(data) + 1.2))
bars = ax.barh(names[::-1], values[::-1], color=["#2a7" if n.startswith("sidequest") else "#888" for n in names[::-1]])
ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values[::-1]], padding=3)
ax.set_xlabel("drain, jobs/s (no-op jobs; processes, threads as in the table; higher is better)")
ax.set_xlim(0, max(values) * 1.2)
fig.tight_layout()
fig.savefig(path, dpi=100)
"""
    subprocess.run([str(python), "-c", script, json.dumps(data), str(path)], check=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--systems", default=",".join(ALL_SYSTEMS), help="comma-separated: " + ",".join(ALL_SYSTEMS)
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--extras", default="scheduled,processes,rtt", help="scheduled,processes,rtt or none")
    parser.add_argument("--rtt-systems", default="sidequest,sidekiq,dramatiq")
    parser.add_argument("--rtt-ms", type=float, default=1.0, help="round trip to aim for behind the proxy")
    parser.add_argument("--rtt-jobs", type=int, default=5000, help="jobs per run behind the delaying proxy")
    parser.add_argument(
        "--out", type=Path, help="write the report here (e.g. docs/benchmarks.md) and a PNG chart beside it"
    )
    args = parser.parse_args(argv)

    chosen = [name.strip() for name in args.systems.split(",") if name.strip()]
    extras = {name.strip() for name in args.extras.split(",")} - {"none", ""}
    everything = systems()
    unknown = [name for name in chosen if name not in everything]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {ALL_SYSTEMS}")
    if any(
        everything[name].python != sys.executable and everything[name].python != "ruby" for name in chosen
    ):
        ensure_peers()
    if "sidekiq" in chosen and shutil.which("sidekiq") is None:
        print("sidekiq is not installed (apt-get install ruby-sidekiq); leaving it out", file=sys.stderr)
        chosen.remove("sidekiq")
    info = machine()

    rows: list[tuple[System, Result, int]] = []
    for name in chosen:
        system = everything[name]
        count = system.drain_jobs and min(system.drain_jobs, args.jobs) or args.jobs
        runs = []
        for run in range(args.runs):
            result = run_once(system, args.jobs, args.latency_samples)
            print(f"  {name} run {run + 1}: {result}", file=sys.stderr)
            runs.append(result)
        rows.append((system, median_result(runs), count))
    report = table(rows)
    print(report)

    sections: list[str] = []
    sidequest = everything["sidequest"]
    scheduled_p99 = scaling = float("nan")
    if "scheduled" in extras:
        p50, p99 = scheduled_lateness(sidequest, 200)
        scheduled_p99 = p99
        sections.append(
            f"Scheduled jobs (sidequest, 200 jobs scheduled 10 ms apart from 1 s ahead): start - scheduled "
            f"time p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 100 ms)."
        )
        print(sections[-1])
    if "processes" in extras:
        burn_jobs = min(args.jobs, 8000)
        ones = [burn_throughput(sidequest, 1, burn_jobs) for _ in range(args.runs)]
        twos = [burn_throughput(sidequest, 2, burn_jobs) for _ in range(args.runs)]
        one, two = statistics.median(ones), statistics.median(twos)
        scaling = two / one if one else float("nan")
        sections.append(
            f"`--processes 2` with jobs burning 1 ms of CPU each ({burn_jobs:,} jobs, medians of {args.runs}): "
            f"1 process {one:,.0f} jobs/s, 2 processes {two:,.0f} jobs/s, {two / one:.2f}x (target >= 1.6x)."
        )
        print(sections[-1])
    rtt_rows: list[tuple[System, Result, int]] = []
    rtt = float("nan")
    if "rtt" in extras:
        delay, rtt = calibrate_delay(args.rtt_ms)
        for name in [n.strip() for n in args.rtt_systems.split(",") if n.strip() in chosen]:
            system = everything[name]
            rtt_jobs = min(args.jobs, args.rtt_jobs)
            runs = [run_once(system, rtt_jobs, 0, delay_ms=delay, idle=False) for _ in range(args.runs)]
            count = system.drain_jobs and min(system.drain_jobs, rtt_jobs) or rtt_jobs
            rtt_rows.append((system, median_result(runs), count))
        print(f"behind the delaying proxy (PING round trip {rtt:.2f} ms, delay {delay} ms each way):")
        print(table(rtt_rows))

    goals = targets(rows, rtt_rows, scheduled_p99, scaling)
    for line in goals:
        print(line)
    if args.out:
        write_report(args, info, rows, report, sections + goals, rtt_rows, rtt)
    return 0


def targets(
    rows: list[tuple[System, Result, int]],
    rtt_rows: list[tuple[System, Result, int]],
    scheduled_p99: float,
    scaling: float,
) -> list[str]:
    """issue 6's targets, each with the ratio measured in this run (nan when a side was not run)."""
    by_name = {system.name: result for system, result, _ in rows}
    nan = Result()
    ours, sqlite = by_name.get("sidequest", nan), by_name.get("sidequest-sqlite", nan)
    sidekiq, dramatiq = by_name.get("sidekiq", nan), by_name.get("dramatiq", nan)

    def check(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def ratio(text: str, a: float, b: float, goal: float) -> str:
        value = a / b if b == b and b else float("nan")
        return f"{text}: {value:.2f}x (target >= {goal:g}x): {check(value >= goal)}"

    lines = [
        ratio("drain vs Ruby Sidekiq", ours.drain, sidekiq.drain, 4),
        ratio("drain vs Dramatiq -p 1 -t 10", ours.drain, dramatiq.drain, 10),
        ratio("single enqueue vs Sidekiq's client", ours.single, sidekiq.single, 2),
        ratio("bulk enqueue vs Sidekiq's push_bulk", ours.bulk, sidekiq.bulk, 2),
        f"latency p50 {ours.p50:.2f} ms (target < 1 ms): {check(ours.p50 < 1)}; "
        f"p99 {ours.p99:.2f} ms (target < 2 ms): {check(ours.p99 < 2)}",
        f"idle RSS {ours.rss:.1f} MB (target <= 35 MB): {check(ours.rss <= 35)}",
        f"drain on SQLite {sqlite.drain:,.0f} jobs/s (target >= 15,000): {check(sqlite.drain >= 15000)}",
        f"scheduled job start p99 {scheduled_p99:.1f} ms late (target < 100 ms): {check(scheduled_p99 < 100)}",
        f"--processes 2 scaling {scaling:.2f}x (target >= 1.6x): {check(scaling >= 1.6)}",
    ]
    behind = {system.name: result for system, result, _ in rtt_rows}
    if "sidequest" in behind and "sidekiq" in behind:
        near = (
            ours.drain / sidekiq.drain if sidekiq.drain == sidekiq.drain and sidekiq.drain else float("nan")
        )
        far = behind["sidequest"].drain / behind["sidekiq"].drain if behind["sidekiq"].drain else float("nan")
        lines.append(
            f"lead over Sidekiq in drain behind the proxy {far:.2f}x vs {near:.2f}x without "
            f"(target: larger): {check(far > near)}"
        )
    return ["Target: " + line for line in lines]


def write_report(
    args: argparse.Namespace,
    info: dict[str, str],
    rows: list[tuple[System, Result, int]],
    report: str,
    sections: list[str],
    rtt_rows: list[tuple[System, Result, int]],
    rtt: float,
) -> None:
    out: Path = args.out
    png = out.with_suffix(".png")
    drawn = chart(rows, png)
    command = (
        "python bench/run.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out" and v is not None
        )
        + f" --out {out}"
    )
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run.py` (the numbers below are from one run of it; see *How* for the rules).",
        "",
        "```",
        command,
        "```",
        "",
        report,
        "",
    ]
    if drawn:
        lines += [f"![drain throughput]({png.name})", ""]
    lines += [f"- {text}" for text in sections]
    if rtt_rows:
        lines += [
            "",
            f"## Behind a round trip of {rtt:.2f} ms",
            "",
            "bench/proxy.py delays every byte in each direction (Sidekiq's load test uses toxiproxy for this), "
            "with the delay calibrated so that a PING through it takes the round trip above. Idle RSS and "
            "latency are not measured here.",
            "",
            table(rtt_rows),
        ]
    info = info | {"load average at end": " ".join(f"{v:.2f}" for v in os.getloadavg())}
    lines += ["", "## Machine", ""] + [f"- {key}: `{value}`" for key, value in info.items()]
    lines += [
        "",
        "## How",
        "",
        __doc__.split("\n", 2)[2].strip(),
    ]
    kept = ""
    if out.exists() and NOTES_MARKER in out.read_text():
        kept = out.read_text().split(NOTES_MARKER, 1)[1]
    out.write_text("\n".join(lines) + "\n\n" + NOTES_MARKER + (kept or "\n"))
    print(f"wrote {out}" + (f" and {png}" if drawn else ""), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
