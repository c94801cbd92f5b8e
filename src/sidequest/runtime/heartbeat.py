"""The process record: who this worker is, what it runs, and its counters, every few seconds.

The record is Sidekiq's (identity hash with info/busy/beat/quiet/rss/rtt_us, plus the running-jobs
hash), written with a TTL so a dead process vanishes by itself. Each beat also flushes the in-memory
processed/failed counts, reads remote signals (quiet/stop/dump from the Web UI or API), and asks the
store to recover jobs of processes whose record has expired.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from sidequest import __version__
from sidequest.config import Config, Settings
from sidequest.errors import StoreError
from sidequest.runtime.manager import Manager
from sidequest.stores.base import Beat, Store

logger = logging.getLogger("sidequest")


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


class Heartbeat:
    def __init__(
        self,
        config: Config,
        store: Store,
        manager: Manager,
        identity: str,
        on_signal: Callable[[str], None],
    ) -> None:
        self.config = config
        self.store = store
        self.manager = manager
        self.identity = identity
        manager.processor.identity = identity
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
        metrics = self.manager.processor.metrics.take()
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
            self.manager.processor.metrics.give_back(metrics)
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
            self.manager.processor.beat_ok_at = beat_started
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
        try:
            recovered = self.store.recover()
        except StoreError:
            recovered = 0
        if recovered:
            logger.warning("recovered %d job(s) left in progress by processes that died", recovered)
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
        metrics = self.manager.processor.metrics.take()
        try:
            if processed or failed:
                self.store.add_counts(processed, failed, time.time())
            if metrics:
                self.store.add_metrics(metrics, time.time())
            self.store.remove_process(self.identity)
        except StoreError as exc:
            logger.error("could not clear the process record at shutdown: %s", exc)
