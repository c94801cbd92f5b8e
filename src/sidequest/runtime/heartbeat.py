"""The process record: who this worker is, what it runs, and its counters, every few seconds.

The record is Sidekiq's (identity hash with info/busy/beat/quiet/rss/rtt_us, plus the running-jobs
hash), written with a TTL so a dead process vanishes by itself. Each beat also flushes the in-memory
processed/failed counts, reads remote signals (quiet/stop/dump from the Web UI or API), and asks the
store to recover jobs of processes whose record has expired.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sidequest import __version__
from sidequest.config import Config, Settings
from sidequest.errors import StoreError
from sidequest.stores.base import Beat, JobCounts, Recovered, Store, Work

logger = logging.getLogger("sidequest")


def report_recovered(recovered: list[Recovered]) -> None:
    """Log what recover took from processes that died: each job by class and jid, per process.

    A process that died leaves no other trace of what it was running; a poison pill (a job that
    killed its worker max_recoveries times) gets a line of its own, as it is now in the dead set.
    """
    owners: dict[str, list[Recovered]] = {}
    for job in recovered:
        owners.setdefault(job.owner, []).append(job)
    for owner, jobs in owners.items():
        requeued = [job for job in jobs if not job.buried]
        if requeued:
            logger.warning(
                "recovered %d job(s) left in progress by process %s, which died: %s",
                len(requeued),
                owner,
                ", ".join(f"{_describe(job.work.payload)} (recovery {job.recoveries})" for job in requeued),
            )
        for job in jobs:
            if job.buried:
                logger.error(
                    "%s was held by a worker process that died, %d times: moved to the dead set as "
                    "ProcessCrashed instead of running it again (last held by %s)",
                    _describe(job.work.payload),
                    job.recoveries,
                    owner,
                )


def _describe(raw: str) -> str:
    """class and jid of a raw payload, for a log line (whatever the payload holds)."""
    try:
        job = json.loads(raw)
    except (ValueError, RecursionError):
        return "a malformed job"
    if not isinstance(job, dict):
        return "a malformed job"
    return f"{job.get('class', '?')} jid={job.get('jid', '')}"


def hostname() -> str:
    return os.environ.get("DYNO") or socket.gethostname()


def rss_kb(pid: int | str = "self") -> int:
    """Resident memory of a process in KB, as Sidekiq reports it (0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_info(config: Config, identity: str, started_at: float) -> str:
    """The static "info" JSON, shaped for the Sidekiq version we share Redis with."""
    settings = config.settings
    info: dict[str, object] = {
        "hostname": hostname(),
        "started_at": started_at,
        "pid": os.getpid(),
        "tag": settings.tag,
        "concurrency": settings.concurrency,
        "queues": settings.queue_names,
        "labels": list(settings.labels),
        "identity": identity,
    }
    if settings.sidekiq_version != "6":
        # as Sidekiq 7+ reports its capsule: weight 0 and mode "strict" when queues are taken in
        # order (as runtime.fetch does for --strict or a single queue), "random" when weights are equal
        strict = settings.strict or len(settings.queue_names) == 1
        weights = {name: (0 if strict else weight) for name, weight in settings.queues}
        info["weights"] = [weights]
        info["version"] = f"sidequest {__version__}"
        info["embedded"] = False
    if settings.sidekiq_version == "8":
        mode = "strict" if strict else "random" if len(set(weights.values())) == 1 else "weighted"
        info["capsules"] = {
            "default": {"concurrency": settings.concurrency, "mode": mode, "weights": weights}
        }
    return json.dumps(info, separators=(",", ":"))


#: Sidekiq 6 beats every 5 s (7+ every 10 s); its UI and API expect that freshness.
SIDEKIQ_6_BEAT = 5.0


def beat_interval(settings: Settings) -> float:
    """Seconds between beats: heartbeat_interval, or Sidekiq 6's 5 s when sharing Redis with 6.x and
    heartbeat_interval was left at its default."""
    if settings.sidekiq_version == "6" and settings.heartbeat_interval == Settings.heartbeat_interval:
        return SIDEKIQ_6_BEAT
    return settings.heartbeat_interval


class Pipeline(Protocol):
    """What the heartbeat needs from the job pipeline (runtime.manager.Manager)."""

    #: thread id -> (running job, epoch seconds it started)
    running: dict[str, tuple[Work, int]]
    #: held while recovering and logging what was recovered: no job starts meanwhile
    start_gate: threading.Lock

    def take_counts(self) -> tuple[int, int]: ...

    def return_counts(self, processed: int, failed: int) -> None: ...

    def take_metrics(self) -> dict[str, JobCounts]: ...

    def return_metrics(self, metrics: dict[str, JobCounts]) -> None: ...

    def record_alive(self, beat_started: float) -> None: ...

    def forget_recovered(self) -> None: ...


class Heartbeat:
    def __init__(
        self,
        config: Config,
        store: Store,
        manager: Pipeline,
        identity: str,
        on_signal: Callable[[str], None],
    ) -> None:
        self.config = config
        self.store = store
        self.manager = manager
        self.identity = identity
        self.on_signal = on_signal
        self.started_at = time.time()
        self.info = process_info(config, identity, self.started_at)
        self.quiet = False
        self._rtt_us = 0
        self._beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat_once(self) -> bool:
        """Write one heartbeat; returns False if the store could not be reached."""
        processed, failed = self.manager.take_counts()
        metrics = self.manager.take_metrics()
        now = time.time()
        work = {
            tid: json.dumps({"queue": w.queue, "payload": w.payload, "run_at": run_at}, separators=(",", ":"))
            for tid, (w, run_at) in list(self.manager.running.items())
        }
        beat = Beat(
            identity=self.identity,
            info=self.info,
            busy=len(work),
            beat=now,
            quiet=self.quiet,
            rss_kb=rss_kb(),
            rtt_us=self._rtt_us,
            concurrency=self.config.settings.concurrency,
            work=work,
            ttl=self.config.settings.process_ttl,
            processed=processed,
            failed=failed,
            metrics=metrics,
        )
        started = time.perf_counter()
        beat_started = time.monotonic()
        try:
            result = self.store.beat(beat)
        except StoreError as exc:
            self.manager.return_counts(processed, failed)
            self.manager.return_metrics(metrics)
            if not self._failing:
                logger.error("heartbeat: %s", exc)
                self._failing = True
            return False
        self._rtt_us = int((time.perf_counter() - started) * 1_000_000)
        if self._failing:
            logger.warning("heartbeat: store is reachable again")
            self._failing = False
        self._beats += 1
        if result.existed or self._beats == 1:
            # until a beat finds the record alive again, processors check each job is still ours
            self.manager.record_alive(beat_started)
        if not result.existed:
            if self._beats > 1:
                logger.warning(
                    "heartbeat: this process's record had expired; checking fetched jobs were not recovered elsewhere"
                )
                self.manager.forget_recovered()
            self.config.fire("heartbeat")
        self.config.fire("beat")
        for name in result.signals:
            self.on_signal(name)
        # a recovered job may kill this process as soon as it starts (a poison pill): log it first
        with self.manager.start_gate, contextlib.suppress(StoreError):  # the next beat tries again
            report_recovered(self.store.recover(self.config.settings.max_recoveries))
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sidequest-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        interval = beat_interval(self.config.settings)
        while not self._stop.wait(interval):
            self.beat_once()

    def stop(self) -> None:
        """Stop beating, flush the last counts and leave the process registry (clean shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        processed, failed = self.manager.take_counts()
        metrics = self.manager.take_metrics()
        try:
            if processed or failed:
                self.store.add_counts(processed, failed, time.time())
            if metrics:
                self.store.add_metrics(metrics, time.time())
            self.store.remove_process(self.identity)
        except StoreError as exc:
            logger.error("could not clear the process record at shutdown: %s", exc)
