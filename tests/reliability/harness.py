"""What every reliability scenario shares: worker subprocesses, a steady feeder, and the ledger check.

The check is exact: every enqueued tag must be in the ledger, and a tag may appear more than once only
if it was in the in-progress list of a process at the moment a fault hit it (read from the store right
after the fault, before anyone recovers it). bench/soak.py drives the same code at full size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidequest.client import Client
from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.stores import Store, open_store
from tests.support.worker import wait_for, worker_command

JOBS = Path(__file__).resolve().with_name("jobs.py")


class Ledger:
    """The file jobs append "<tag> <pid>" to when they finish."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def env(self) -> dict[str, str]:
        return {"SIDEQUEST_RELIABILITY_LEDGER": str(self.path)}

    def entries(self) -> list[tuple[str, int]]:
        return self._read(self.path)

    def starts(self) -> list[tuple[str, int]]:
        return self._read(Path(str(self.path) + ".starts"))

    @staticmethod
    def _read(path: Path) -> list[tuple[str, int]]:
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            tag, _, pid = line.rpartition(" ")
            rows.append((tag, int(pid)))
        return rows

    def tags(self) -> Counter[str]:
        return Counter(tag for tag, _ in self.entries())

    def holds(self, tags: Iterable[str]) -> bool:
        have = self.tags()
        return all(have[tag] for tag in tags)


@dataclass
class Verdict:
    """What a scenario's ledger shows against what was enqueued."""

    enqueued: int
    finished: int
    missing: list[str]
    duplicates: dict[str, int]  # tag -> extra runs
    unexpected_duplicates: dict[str, int]
    in_flight_at_faults: int
    unknown: list[str] = field(default_factory=list)

    @property
    def extra_runs(self) -> int:
        return sum(self.duplicates.values())

    def assert_exact(self) -> None:
        assert not self.missing, f"{len(self.missing)} job(s) never finished, e.g. {self.missing[:5]}"
        assert not self.unknown, f"ledger has tags that were never enqueued: {self.unknown[:5]}"
        assert not self.unexpected_duplicates, (
            f"{len(self.unexpected_duplicates)} job(s) ran twice without being in flight at a fault: "
            f"{dict(list(self.unexpected_duplicates.items())[:5])}"
        )


def verdict(enqueued: Iterable[str], ledger: Ledger, in_flight: Counter[str]) -> Verdict:
    """Compare the ledger with the enqueued tags; in_flight counts, per tag, the faults it was held at.

    A tag held by a process at k faults may run up to k + 1 times; any other repeat is a bug.
    """
    wanted = list(enqueued)
    wanted_set = set(wanted)
    ran = ledger.tags()
    missing = [tag for tag in wanted if not ran[tag]]
    duplicates = {tag: count - 1 for tag, count in ran.items() if count > 1}
    unexpected = {tag: extra for tag, extra in duplicates.items() if extra > in_flight[tag]}
    return Verdict(
        enqueued=len(wanted),
        finished=sum(1 for tag in wanted_set if ran[tag]),
        missing=missing,
        duplicates=duplicates,
        unexpected_duplicates=unexpected,
        in_flight_at_faults=sum(in_flight.values()),
        unknown=sorted(set(ran) - wanted_set),
    )


class WorkerProcess:
    """A real `sidequest worker` subprocess loading jobs.py, with a short heartbeat for quick recovery."""

    def __init__(
        self,
        url: str,
        workdir: Path,
        ledger: Ledger,
        *args: str,
        heartbeat: float = 0.5,
        ttl: float = 2.0,
        env: dict[str, str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        stamp = time.monotonic_ns()
        config = workdir / f"worker-{stamp}.toml"
        config.write_text(f"heartbeat_interval = {heartbeat}\nprocess_ttl = {ttl}\npoll_interval = 0.1\n")
        self.log = workdir / f"worker-{stamp}.log"
        child_env = {**os.environ, **ledger.env, "PYTHONUNBUFFERED": "1", **(env or {})}
        for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
            child_env.pop(var, None)
        command = worker_command(JOBS, url, config)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, *args], stdout=log, stderr=subprocess.STDOUT, env=child_env
            )
        self.pid = self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def identity(self, store: Store) -> str:
        """This process's identity, from its heartbeat record (waits for the first beat)."""
        found: list[str] = []

        def registered() -> bool:
            found[:] = [p.identity for p in store.processes() if p.info.get("pid") == self.pid]
            return bool(found)

        wait_for(registered, 20, f"worker {self.pid} to register")
        return found[0]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def cleanup(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)


class Feeder(threading.Thread):
    """Enqueues `total` reliability.mark jobs at a steady rate from its own store connection.

    A push that raises StoreUnavailable is retried with the same tag until it succeeds; such tags are
    recorded in `uncertain` (the failed attempt may have been written too, so they may run twice).
    """

    def __init__(
        self, url: str, total: int, per_second: float, *, prefix: str = "job", seconds: float = 0.002
    ) -> None:
        super().__init__(name="reliability-feeder", daemon=True)
        self.url = url
        self.total = total
        self.per_second = per_second
        self.prefix = prefix
        self.seconds = seconds
        self.tags = [f"{prefix}-{n}" for n in range(total)]
        self.pushed = 0
        self.uncertain: set[str] = set()
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        store = open_store(self.url)
        config = Config()
        config.use_store(store)
        client = Client(config)
        batch = 10
        interval = batch / self.per_second
        started = time.monotonic()
        try:
            for start in range(0, self.total, batch):
                chunk = self.tags[start : start + batch]
                args = [[tag, self.seconds] for tag in chunk]
                while True:
                    try:
                        client.push_bulk_jobs("reliability.mark", args, {"queue": "default"})
                        break
                    except StoreError as exc:
                        self.errors.append(str(exc))
                        self.uncertain.update(chunk)
                        time.sleep(0.1)
                self.pushed += len(chunk)
                pause = started + (start + batch) * interval / batch - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        finally:
            store.close()
            self.done.set()


def tags_held(store: Store, identity: str) -> list[str]:
    """Tags of the jobs in identity's in-progress list (fetched, not yet acknowledged)."""
    import json

    return [str(json.loads(work.payload)["args"][0]) for work in store.in_progress(identity)]


@dataclass
class CrashRun:
    """The outcome of one SIGKILL scenario run."""

    verdict: Verdict
    kills: int
    seconds: float
    exit_codes: list[int]


def crash_scenario(
    url: str,
    workdir: Path,
    *,
    jobs: int,
    kills: int,
    per_second: float,
    workers: int = 2,
    concurrency: int = 5,
    seed: int = 0,
    job_seconds: float = 0.01,
    finish_timeout: float = 90.0,
) -> CrashRun:
    """Feed `jobs` jobs steadily to `workers` worker processes and SIGKILL one at random `kills` times.

    Each killed worker is replaced at once. Right after each kill the victim's in-progress list is
    read: those jobs are the only ones allowed to run twice.
    """
    import random

    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(workdir / "ledger.txt")
    store = open_store(url)
    started = time.monotonic()
    pool = [WorkerProcess(url, workdir, ledger, "-c", str(concurrency)) for _ in range(workers)]
    everyone = list(pool)
    feeder = Feeder(url, jobs, per_second, seconds=job_seconds)
    in_flight: Counter[str] = Counter()
    try:
        feeder.start()
        feeding = jobs / per_second
        for _ in range(kills):
            time.sleep(rng.uniform(0.3, max(0.4, feeding / kills)))
            victim = rng.choice(pool)
            identity = victim.identity(store)
            victim.kill()
            in_flight.update(tags_held(store, identity))
            pool.remove(victim)
            replacement = WorkerProcess(url, workdir, ledger, "-c", str(concurrency))
            pool.append(replacement)
            everyone.append(replacement)
        feeder.done.wait(feeding * 3 + 30)
        assert feeder.pushed == jobs, f"feeder pushed only {feeder.pushed} of {jobs}"
        wait_for(lambda: ledger.holds(feeder.tags), finish_timeout, f"all {jobs} jobs to finish")
        exit_codes = [worker.terminate() for worker in pool]
        return CrashRun(
            verdict(feeder.tags, ledger, in_flight), kills, time.monotonic() - started, exit_codes
        )
    finally:
        for worker in everyone:
            worker.cleanup()
        store.close()


@dataclass
class OutageRun:
    """The outcome of one Redis outage scenario run."""

    verdict: Verdict
    failed_pushes: int
    push_errors: list[str]
    outputs: list[str]
    exit_codes: list[int]
    seconds: float


def outage_scenario(
    server: Any,
    workdir: Path,
    *,
    jobs: int,
    per_second: float,
    pause: float = 6.0,
    down: float = 1.5,
    finish_timeout: float = 90.0,
) -> OutageRun:
    """Two workers take a steady stream while redis-server (persistent) is restarted, then paused.

    The workers' heartbeat records (TTL 15 s) outlive both outages, so no worker is taken for dead:
    only a push whose reply was lost (the feeder retries it) may run twice.
    """
    ledger = Ledger(workdir / "ledger.txt")
    store = open_store(server.url)
    started = time.monotonic()
    workers = [WorkerProcess(server.url, workdir, ledger, "-c", "5", heartbeat=1, ttl=15) for _ in range(2)]
    feeder = Feeder(server.url, jobs, per_second)
    try:
        for worker in workers:
            worker.identity(store)
        feeder.start()
        wait_for(lambda: feeder.pushed >= jobs // 10, what="the first jobs")
        server.stop()
        time.sleep(down)
        server.start()
        wait_for(
            lambda: feeder.pushed >= jobs * 6 // 10,
            what="the feeder to go on",
            timeout=jobs / per_second * 3 + 30,
        )
        server.pause()
        time.sleep(pause)
        server.resume()
        feeder.done.wait(jobs / per_second * 3 + 30)
        wait_for(lambda: ledger.holds(feeder.tags), finish_timeout, "every job to finish after the outages")
        alive = [worker.alive() for worker in workers]
        assert all(alive), [worker.output()[-2000:] for worker in workers]
        exit_codes = [worker.terminate() for worker in workers]
        return OutageRun(
            verdict(feeder.tags, ledger, Counter(feeder.uncertain)),
            len(feeder.errors),
            feeder.errors,
            [worker.output() for worker in workers],
            exit_codes,
            time.monotonic() - started,
        )
    finally:
        for worker in workers:
            worker.cleanup()
        store.close()
