"""Run sidequest and its peers side by side and publish the numbers: ``python bench/run.py``.

Each system gets its own private redis-server (a free port in a temp dir, no persistence) per run and
the same work: N no-op jobs, each appending one byte to a ledger file (the runner counts completions
by the file's size), one worker process with 10 threads unless noted (Celery prefork, Dramatiq's and
taskiq's defaults run several processes). Figures are medians of --runs.

- single enqueue: N jobs one call at a time; these are also the drain input when there is no bulk API;
- bulk enqueue: N jobs through the system's bulk API (1000 per call), where it has one;
- drain: jobs/s from the first ledger byte to the last, the worker started on a full queue;
- idle RSS: the worker's process tree, 3 s after start on an empty queue;
- latency: enqueue -> start of one job at a time on that idle worker (5 ms apart), p50 / p99;
- Redis commands per job: INFO commandstats over the drain (CONFIG RESETSTAT just before the worker
  starts), all commands / EVAL+EVALSHA+FCALL calls. Redis 7 counts a command run inside a Lua script
  like one a client sent, so "all" includes them; the script calls are what clients sent of them;
- Redis CPU per job: redis-server's used_cpu_user + used_cpu_sys (INFO cpu) over the single enqueue
  and over the drain, in microseconds; 1e6 / (enqueue + drain) is the jobs/s one Redis core carries
  (docs/scaling.md).

Extras (sidequest, and Ruby Sidekiq where noted; --extras picks them):
- scheduled: scheduled-job lateness;
- processes: `--processes N` for each N of --processes (default 1,2; e.g. 1,2,4,8 on a larger machine)
  draining jobs that burn 1 ms of CPU, with the speed-up over 1 and Redis CPU per job and as a share of a core;
- rtt: the same drain and enqueues behind bench/proxy.py adding a round trip;
- load: the latency probe (--load-samples, default 2,000; p50 / p99 / p99.9) on a quiet machine and beside
  --load busy-loop processes (default: one per core, so no core is idle), for sidequest as it ships
  (polling for the push reply while a core is idle), sidequest never polling, sidequest polling whatever
  the load, and Ruby Sidekiq, in turn under the same loops (the order rotating between runs); with the
  pushing thread's CPU per enqueue call and the worker's CPU per job.

Peers run from bench/.venv-peers, created and filled from PyPI on first use (versions pinned in bench/run.py);
Ruby Sidekiq is Debian's ruby-sidekiq when ``sidekiq`` is on PATH. ``--out`` writes docs/benchmarks.md
and a PNG chart beside it. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
#: The same workers with another setting: chosen by name only, not run by default.
VARIANTS = ["sidequest-info", "sidekiq-info", "sidequest-prefetch"]


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


@dataclass
class RedisCost:
    """What a redis-server did between two readings: commands run and CPU seconds used."""

    commands: int  # every command, those run inside Lua scripts included (Redis counts both alike)
    scripts: int  # EVAL / EVALSHA / FCALL calls: issued by clients, each runs commands of its own
    cpu: float  # used_cpu_user + used_cpu_sys, seconds
    calls: dict[str, int] = field(default_factory=dict)  # by command name

    def breakdown(self, jobs: int) -> str:
        """The commands per job, most frequent first (for the progress lines on stderr)."""
        ranked = sorted(self.calls.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {count / jobs:.3f}" for name, count in ranked if count)

    def per_job(self, jobs: int) -> tuple[float, float, float]:
        """(commands, script calls, CPU microseconds) per job."""
        if jobs <= 0:
            return (float("nan"),) * 3
        return self.commands / jobs, self.scripts / jobs, self.cpu * 1e6 / jobs


SCRIPT_COMMANDS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


@contextmanager
def redis_cost(url: str) -> Iterator[list[RedisCost]]:
    """Measure the server's commands and CPU over the block; the result is appended to the list yielded.

    CONFIG RESETSTAT clears INFO commandstats at the start (it counts itself; left out); INFO cpu is
    cumulative, so it is read on both sides. Nothing is measured for a store that is not Redis.
    """
    found: list[RedisCost] = []
    if not url.startswith("redis"):
        yield found
        return
    import redis

    client = redis.Redis.from_url(url)

    def cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    try:
        client.config_resetstat()
        before = cpu()
        yield found
        stats = client.info("commandstats")
        after = cpu()
    finally:
        client.close()
    calls = {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()}
    calls.pop("config|resetstat", None)
    scripts = sum(count for name, count in calls.items() if name in SCRIPT_COMMANDS)
    found.append(RedisCost(sum(calls.values()), scripts, after - before, calls))


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
        return float(self.enqueue_report(url, mode, count, workdir, extra_env)["seconds"])

    def enqueue_report(
        self, url: str, mode: str, count: int, workdir: Path, extra_env: dict[str, str]
    ) -> dict[str, float]:
        """Run the app's enqueue side; its JSON line: "seconds", and in latency mode "enqueue_cpu"."""
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
        report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
        return report

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
        "sidequest-prefetch": System(
            "sidequest-prefetch",
            "sidequest (-c 10, WARN, prefetch 100)",
            sys.executable,
            "sidequest_app.py",
            sidequest_worker(),
            True,
            # the setting that trades no-hoarding for fewer round trips (docs/configuration.md)
            env={"SIDEQUEST_PREFETCH": "100"},
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


def family(pid: int) -> set[int]:
    """pid and all its living descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    members, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in members:
                members.add(child)
                frontier.append(child)
    return members


def tree_rss_mb(pid: int) -> float:
    """VmRSS of pid and all its descendants, in MB."""
    total_kb = 0
    for member in family(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of pid and its living descendants, in seconds."""
    ticks = 0
    for member in family(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


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
    # the server's side (Redis stores only): per job, during the drain and during the single enqueue
    redis_commands: float = float("nan")  # every command, those run inside Lua included
    redis_scripts: float = float("nan")  # EVAL/EVALSHA/FCALL calls
    redis_us_enqueue: float = float("nan")  # redis-server CPU microseconds
    redis_us_drain: float = float("nan")


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
            with redis_cost(url) as enqueue_cost:
                result.single = count / system.enqueue(url, "single", count, tmp, {})
            if system.bulk:
                clear(system, url, tmp)
                result.bulk = count / system.enqueue(url, "bulk", count, tmp, {})
            worker = None
            try:
                with redis_cost(url) as drain_cost:  # the worker's start, its drain, not its stop
                    worker = start_worker(system, url, tmp, {})
                    result.drain = wait_drain(tmp, count, worker, timeout=max(60.0, count / 50))
            finally:
                if worker is not None:
                    stop_worker(worker)
            if drain_cost and enqueue_cost:
                result.redis_commands, result.redis_scripts, result.redis_us_drain = drain_cost[0].per_job(
                    count
                )
                result.redis_us_enqueue = enqueue_cost[0].per_job(count)[2]
                for step, cost in (("single enqueue", enqueue_cost[0]), ("drain", drain_cost[0])):
                    print(
                        f"  {system.name} {step}, Redis commands per job: {cost.breakdown(count)}",
                        file=sys.stderr,
                    )
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
        **{
            column.name: med([getattr(result, column.name) for result in results])
            for column in dataclasses.fields(Result)
        }
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


def burn_throughput(system: System, processes: int, count: int) -> tuple[float, float]:
    """Drain jobs/s for jobs that burn 1 ms of CPU each, with --processes N; and Redis CPU us per job."""
    with tempfile.TemporaryDirectory(prefix="bench-burn-") as name:
        tmp = Path(name)
        with redis_server(tmp / "redis") as url:
            env = {"BENCH_JOB": "burn"}
            system.enqueue(url, "bulk", count, tmp, env)
            argv = [*system.worker(url), "--processes", str(processes)]
            worker = None
            try:
                with redis_cost(url) as cost:
                    worker = start_worker(system, url, tmp, env, argv)
                    rate = wait_drain(tmp, count, worker, timeout=120)
            finally:
                if worker is not None:
                    stop_worker(worker)
            return rate, cost[0].per_job(count)[2]


def processes_sweep(system: System, counts: list[int], jobs: int, runs: int) -> tuple[str, float]:
    """The burn drain at each --processes count (runs interleaved); a table and the scaling at 2."""
    measured: dict[int, list[tuple[float, float]]] = {count: [] for count in counts}
    for _ in range(runs):
        for count in counts:
            measured[count].append(burn_throughput(system, count, jobs))
    lines = [
        "| --processes | jobs/s | vs 1 process | Redis CPU per job, us | Redis CPU, share of one core |",
        "|---|---|---|---|---|",
    ]
    rates = {count: statistics.median(rate for rate, _ in values) for count, values in measured.items()}
    for count, values in measured.items():
        redis_us = statistics.median(us for _, us in values)
        one = rates.get(1, float("nan"))
        lines.append(
            f"| {count} | {fmt(rates[count])} | {rates[count] / one:.2f}x | {redis_us:.1f} | "
            f"{rates[count] * redis_us / 1e6:.0%} |"
        )
    scaling = rates[2] / rates[1] if 1 in rates and 2 in rates and rates[1] else float("nan")
    return "\n".join(lines), scaling


# ---- latency under load: sidequest (polling and not) beside Ruby Sidekiq, with busy loops -----------
@contextmanager
def busy_loops(count: int) -> Iterator[None]:
    """count processes spinning in pure Python: with as many as cores, the machine has no idle core."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for process in loops:
            process.kill()
            process.wait(5)


@dataclass
class Probe:
    p50: float = float("nan")
    p99: float = float("nan")
    p999: float = float("nan")
    enqueue_cpu_us: float = float("nan")  # the pushing thread's CPU per enqueue call (polling included)
    worker_cpu_us: float = float("nan")  # the worker's process tree, per job, over the probe


def latency_probe(system: System, samples: int, extra_env: dict[str, str], settle: float = 3.0) -> Probe:
    """samples jobs one at a time on an idle worker (after 10 to warm up): enqueue -> start, and CPU.

    The worker gets settle seconds to start before the probe (its CPU is counted from then on)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-probe-{system.name}-") as name:
        tmp = Path(name)
        with redis_server(tmp / "redis") as url:
            worker = start_worker(system, url, tmp, extra_env)
            try:
                time.sleep(settle)
                before = tree_cpu_seconds(worker.pid)
                report = system.enqueue_report(url, "latency", samples + 10, tmp, extra_env)
                worker_cpu = tree_cpu_seconds(worker.pid) - before
            finally:
                stop_worker(worker)
            values = latencies(tmp, skip=10)
    return Probe(
        percentile(values, 0.5),
        percentile(values, 0.99),
        percentile(values, 0.999),
        report.get("enqueue_cpu", float("nan")) * 1e6 / samples,  # the apps leave the 10 out too
        worker_cpu * 1e6 / (samples + 10),
    )


def latency_under_load(
    variants: list[tuple[System, str, str, dict[str, str]]], load: int, samples: int, runs: int, settle: float
) -> list[tuple[str, str, int, Probe]]:
    """Each variant (system, key, label, env) probed quiet and beside `load` busy loops, interleaved;
    rows of (key, label, busy loops, medians of runs per figure), in the order of variants."""
    measured: dict[tuple[str, str, int], list[Probe]] = {}
    for run in range(runs):
        # each run starts with another variant, so none is always the first after the loops start
        turn = run % len(variants)
        for level in (0, load):
            with busy_loops(level):
                for system, key, label, env in variants[turn:] + variants[:turn]:
                    probe = latency_probe(system, samples, env, settle)
                    print(f"  {label}, {level} busy loops: {probe}", file=sys.stderr)
                    measured.setdefault((key, label, level), []).append(probe)
    return [
        (
            key,
            label,
            level,
            Probe(
                **{
                    column.name: statistics.median(getattr(probe, column.name) for probe in probes)
                    for column in dataclasses.fields(Probe)
                }
            ),
        )
        for (key, label, level), probes in measured.items()
    ]


def load_table(rows: list[tuple[str, str, int, Probe]], samples: int) -> str:
    lines = [
        "| system | busy loops | samples | enqueue -> start p50 / p99 / p99.9, ms "
        "| pusher CPU per enqueue, us | worker CPU per job, us |",
        "|---|---|---|---|---|---|",
    ]
    for _, label, level, probe in rows:
        lines.append(
            f"| {label} | {level} | {samples:,} | {probe.p50:.2f} / {probe.p99:.2f} / {probe.p999:.2f} | "
            f"{probe.enqueue_cpu_us:.0f} | {probe.worker_cpu_us:.0f} |"
        )
    return "\n".join(lines)


# ---- report -----------------------------------------------------------------------------------------
def fmt(value: float, digits: int = 0) -> str:
    if value != value:
        return "none"
    return f"{value:,.{digits}f}"


def table(rows: list[tuple[System, Result, int]]) -> str:
    lines = [
        "| system | jobs | drain, jobs/s | single enqueue, jobs/s | bulk enqueue, jobs/s | idle RSS, MB "
        "| latency p50 / p99, ms | Redis commands per job, drain: all / scripts "
        "| Redis CPU per job, us: enqueue / drain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for system, result, count in rows:
        latency = "not measured" if result.p50 != result.p50 else f"{result.p50:.2f} / {result.p99:.2f}"
        commands = (
            "not Redis"
            if result.redis_commands != result.redis_commands
            else f"{result.redis_commands:.2f} / {result.redis_scripts:.2f}"
        )
        redis_cpu = (
            "not Redis"
            if result.redis_us_drain != result.redis_us_drain
            else f"{result.redis_us_enqueue:.1f} / {result.redis_us_drain:.1f}"
        )
        lines.append(
            f"| {system.label} | {count:,} | {fmt(result.drain)} | {fmt(result.single)} | "
            f"{fmt(result.bulk)} | {fmt(result.rss)} | {latency} | {commands} | {redis_cpu} |"
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
        "--systems",
        default=",".join(ALL_SYSTEMS),
        help="comma-separated: " + ",".join(ALL_SYSTEMS) + " (also: " + ",".join(VARIANTS) + ")",
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--extras", default="scheduled,processes,rtt,load", help="scheduled,processes,rtt,load or none"
    )
    parser.add_argument(
        "--processes",
        default="1,2",
        help="the processes extra: --processes counts to sweep, e.g. 1,2,4,8 (scaling target at 2)",
    )
    parser.add_argument(
        "--load",
        type=int,
        default=os.cpu_count() or 2,
        help="the load extra: busy-loop processes beside the probe",
    )
    parser.add_argument(
        "--load-samples", type=int, default=2000, help="the load extra: jobs per latency probe"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="the load extra: seconds a worker gets to start before a probe",
    )
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
    tables: list[tuple[str, str, str]] = []  # (heading, what was run, table)
    if "processes" in extras:
        burn_jobs = min(args.jobs, 8000)
        counts = [int(text) for text in args.processes.split(",") if text.strip()]
        sweep, scaling = processes_sweep(sidequest, counts, burn_jobs, args.runs)
        tables.append(
            (
                "Processes",
                f"sidequest `--processes N` draining {burn_jobs:,} jobs that burn 1 ms of CPU each (`-c 10` "
                f"per process), medians of {args.runs} runs interleaved; Redis CPU per job from the "
                "server's used_cpu_user + used_cpu_sys over the drain.",
                sweep,
            )
        )
        print(sweep)
    load_rows: list[tuple[str, str, int, Probe]] = []
    if "load" in extras:
        variants = [
            (sidequest, "sidequest", "sidequest (polls for the push reply while a core is idle)", {}),
            (sidequest, "sidequest-no-polling", "sidequest, never polling", {"BENCH_SPIN": "never"}),
            (
                sidequest,
                "sidequest-always-polling",
                "sidequest, polling whatever the load",
                {"BENCH_SPIN": "always"},
            ),
        ]
        if "sidekiq" in chosen:
            variants.append((everything["sidekiq"], "sidekiq", everything["sidekiq"].label, {}))
        load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
        load_rows = latency_under_load(variants, args.load, args.load_samples, args.runs, args.settle)
        text = load_table(load_rows, args.load_samples)
        tables.append(
            (
                "Latency under load",
                f"The latency probe ({args.load_samples:,} jobs one at a time, 5 ms apart, on an idle worker) "
                f"alone and beside {args.load} busy-loop processes ({os.cpu_count()} cores here), each "
                f"system in turn under the same loops, medians of {args.runs} runs; load average before: "
                f"{load_average}. Pusher CPU: the enqueue calls alone (thread CPU time); worker CPU: its "
                "process tree over the probe, idle time included.",
                text,
            )
        )
        print(text)
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

    goals = targets(rows, rtt_rows, scheduled_p99, scaling, load_rows, args.load)
    for line in goals:
        print(line)
    if args.out:
        write_report(args, info, rows, report, sections + goals, rtt_rows, rtt, tables)
    return 0


def targets(
    rows: list[tuple[System, Result, int]],
    rtt_rows: list[tuple[System, Result, int]],
    scheduled_p99: float,
    scaling: float,
    load_rows: list[tuple[str, str, int, Probe]],
    load: int,
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
    if sidekiq.redis_us_drain == sidekiq.redis_us_drain and ours.redis_us_drain == ours.redis_us_drain:
        share = ours.redis_us_drain / sidekiq.redis_us_drain
        whole = (ours.redis_us_enqueue + ours.redis_us_drain) / (
            sidekiq.redis_us_enqueue + sidekiq.redis_us_drain
        )
        lines.append(
            f"Redis CPU per job drained {share:.2f} of Sidekiq's (target <= 0.25): {check(share <= 0.25)}; "
            f"enqueue + drain {whole:.2f} of Sidekiq's"
        )
    probes = {(key, level): probe for key, _, level, probe in load_rows}
    if probes:
        quiet, busy = probes[("sidequest", 0)], probes[("sidequest", load)]
        lines.append(
            f"latency probe, quiet: p50 {quiet.p50:.2f} ms (target < 1 ms): "
            f"{check(quiet.p50 < 1)}; p99 {quiet.p99:.2f} ms (target < 2 ms): {check(quiet.p99 < 2)}"
        )
        if ("sidekiq", load) in probes:
            theirs = probes[("sidekiq", load)]
            lines.append(
                f"p99 beside {load} busy loops {busy.p99:.2f} ms vs Ruby Sidekiq's {theirs.p99:.2f} ms "
                f"(target: no worse): {check(busy.p99 <= theirs.p99)}"
            )
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
    tables: list[tuple[str, str, str]],
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
    for heading, what, text in tables:
        lines += ["", f"## {heading}", "", what, "", text]
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
