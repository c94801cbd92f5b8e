"""Processes and what they run (Sidekiq's ProcessSet and WorkSet), and jobs held by dead processes.

Quiet and stop are signals the store queues for a process; it acts on them at its next heartbeat
(within a few seconds), wherever it runs, as Sidekiq's Web UI buttons do.
"""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from typing import Any

from sidequest._time import to_datetime
from sidequest.api._store import resolve
from sidequest.api.records import HeldJob, JobRecord, ProcessInfo, RunningJob
from sidequest.errors import ProcessNotFound
from sidequest.stores import ProcessRecord, Store

QUIET = "TSTP"
STOP = "TERM"


class ProcessSet:
    """Live processes (their heartbeat record is present), sorted by identity."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def list(self) -> builtins.list[ProcessInfo]:
        return [_info(record) for record in self.store.processes()]

    def size(self) -> int:
        return len(self.store.processes())

    def get(self, identity: str) -> ProcessInfo:
        """The live process with this identity (or hostname:pid); ProcessNotFound otherwise."""
        processes = self.list()
        for process in processes:
            if identity in (process.identity, process.name):
                return process
        live = ", ".join(p.identity for p in processes) or "none"
        raise ProcessNotFound(f"no live process {identity!r}; live processes: {live}")

    def quiet(self, identity: str) -> ProcessInfo:
        """Ask the process to stop taking jobs (it finishes what it runs); returns it as it was."""
        process = self.get(identity)
        self.store.signal(process.identity, QUIET)
        return process

    def stop(self, identity: str) -> ProcessInfo:
        """Ask the process to shut down gracefully (running jobs get its timeout, then go back)."""
        process = self.get(identity)
        self.store.signal(process.identity, STOP)
        return process

    def quiet_all(self) -> builtins.list[ProcessInfo]:
        """Quiet every live process not embedded in another program; returns them."""
        return self._signal_all(QUIET)

    def stop_all(self) -> builtins.list[ProcessInfo]:
        return self._signal_all(STOP)

    def _signal_all(self, signal: str) -> builtins.list[ProcessInfo]:
        targets = [process for process in self.list() if not process.embedded]
        for process in targets:
            self.store.signal(process.identity, signal)
        return targets


class WorkSet:
    """Jobs running now in live processes, oldest start first (as fresh as their last heartbeat)."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def list(self) -> builtins.list[RunningJob]:
        running = [_running(identity, thread, value) for identity, thread, value in self.store.work()]
        return sorted(running, key=lambda r: (r.started_at is None, r.started_at, r.identity, r.thread))

    def size(self) -> int:
        return len(self.store.work())

    def find_by_jid(self, jid: str) -> RunningJob | None:
        for running in self.list():
            if running.job.jid == jid:
                return running
        return None


class HeldByDead:
    """Jobs in progress for processes whose heartbeat is gone: a live worker's next heartbeat
    recovers them to their queues. Until then they are neither queued nor running."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def size(self) -> int:
        count, _ = self.store.held_by_dead(limit=0)
        return count

    def list(self, limit: int = 100) -> builtins.list[HeldJob]:
        _, held = self.store.held_by_dead(limit)
        return [
            HeldJob(identity, work.queue, JobRecord.from_raw(work.payload, work.queue))
            for identity, work in held
        ]


def _info(record: ProcessRecord) -> ProcessInfo:
    info = record.info
    weights = _weights(info)
    queues = (
        [str(q) for q in info.get("queues", [])] if isinstance(info.get("queues"), list) else list(weights)
    )
    started = to_datetime(info.get("started_at"))
    return ProcessInfo(
        identity=record.identity,
        hostname=str(info.get("hostname", "")),
        pid=_int(info.get("pid")),
        tag=str(info.get("tag") or ""),
        labels=[str(label) for label in info.get("labels", []) or []],
        queues=queues,
        weights=weights,
        concurrency=record.concurrency,
        busy=record.busy,
        rss_kb=record.rss_kb,
        beat=datetime.fromtimestamp(record.beat, UTC),
        started_at=started,
        quiet=record.quiet,
        version=str(info.get("version") or ""),
        embedded=bool(info.get("embedded", False)),
        info=info,
    )


def _weights(info: dict[str, Any]) -> dict[str, int]:
    """queue -> weight from 7.x "weights" ([{q: w}] per capsule); without it every queue weighs 0."""
    weights: dict[str, int] = {}
    raw = info.get("weights")
    if isinstance(raw, list):
        for capsule in raw:
            if isinstance(capsule, dict):
                weights.update({str(q): _int(w) for q, w in capsule.items()})
    elif isinstance(raw, dict):
        weights.update({str(q): _int(w) for q, w in raw.items()})
    if not weights and isinstance(info.get("queues"), list):
        weights = {str(q): 0 for q in info["queues"]}
    return weights


def _running(identity: str, thread: str, value: str) -> RunningJob:
    """Sidekiq's work JSON: {"queue", "payload" (a JSON string, or an object from old writers), "run_at"}."""
    try:
        work = json.loads(value)
    except ValueError:
        work = {}
    if not isinstance(work, dict):
        work = {}
    queue = str(work.get("queue", ""))
    payload = work.get("payload", "")
    raw = (
        payload
        if isinstance(payload, str)
        else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    )
    run_at = work.get("run_at")
    started = (
        to_datetime(float(run_at))
        if isinstance(run_at, (int, float)) and not isinstance(run_at, bool)
        else None
    )
    return RunningJob(identity, thread, queue, started, JobRecord.from_raw(raw, queue))


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
