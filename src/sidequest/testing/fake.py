"""Fake mode's job lists: what would have been written to the store, kept in memory instead.

Each push arrives here already serialised by the client, so the payloads a test sees went through the
same JSON encoding as production ones (Sidekiq's fake mode does the same). Immediate jobs carry
``enqueued_at``; scheduled ones carry ``at`` (epoch seconds) instead, as in Sidekiq.

Running jobs: ``drain`` and ``perform_one`` take jobs in the order a worker would (earliest run time,
then enqueue order) and run them through the configured server middleware. A job that raises is
removed and its exception propagates (Sidekiq's behaviour), unless the drain asks for ``retry=True``:
then the failure is recorded exactly as the worker's retry code records it (retry_count, error fields,
backoff with jitter) and the job comes back as a scheduled retry, or lands in ``dead_jobs()``.

When the test clock is frozen, only scheduled jobs due by the frozen time run (jobs enqueued to run now
always do), so scheduled jobs and retries wait until the test advances the clock.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any, TypeAlias

from sidequest import _time
from sidequest.client import Delivery
from sidequest.config import get_config
from sidequest.errors import EmptyQueueError, SidequestError
from sidequest.job import Enqueuer, Job, JobDefinition
from sidequest.testing._loop import run_coroutine
from sidequest.testing.clock import Moment, clock, epoch_seconds

#: A job as tests name it: the @job function, a Job class, an Enqueuer from .set(), or the job's name.
JobRef: TypeAlias = str | Enqueuer[Any] | type[Job]

DEFAULT_MAX_ROUNDS = 100


class DrainLoopError(SidequestError, RuntimeError):
    """Draining went on for max_rounds and jobs were still being enqueued: most likely a job that
    enqueues itself (or two that enqueue each other)."""


def job_name(job: object) -> str:
    """The registered name of a job reference, so every helper accepts whatever the test has at hand."""
    if isinstance(job, str):
        return job
    if isinstance(job, Enqueuer):
        return job.name
    if isinstance(job, type) and issubclass(job, Job):
        return job.definition.name
    raise TypeError(
        f"expected a job (an @job function, a Job subclass or a job name), got {type(job).__name__} {job!r}"
    )


@dataclass
class FakeEntry:
    """One captured job; seq keeps enqueue order when run times tie (a frozen clock makes them tie)."""

    seq: int
    name: str
    payload: dict[str, Any]

    @property
    def run_at(self) -> float:
        """When a worker would pick this job up: its ``at``, else when it was enqueued."""
        for key in ("at", "enqueued_at", "created_at"):
            value = _time.from_wire(self.payload.get(key))
            if value is not None:
                return value
        return 0.0


class FakeQueues:
    """Every job captured in fake mode, in enqueue order, plus the jobs retry-draining buried."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: list[FakeEntry] = []
        self._dead: list[dict[str, Any]] = []
        self._seq = itertools.count()

    # ---- capture ----------------------------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """The client's delivery override in fake mode."""
        with self._lock:
            for _queue, at, raw in delivery:
                payload: dict[str, Any] = json.loads(raw)
                if at is not None:
                    payload["at"] = at
                self._add(payload)

    def _add(self, payload: dict[str, Any]) -> None:
        self._entries.append(FakeEntry(next(self._seq), str(payload.get("class", "")), payload))

    # ---- reading ----------------------------------------------------------------------------------
    def jobs_for(self, job: object) -> list[dict[str, Any]]:
        """A snapshot of one job's payloads in enqueue order (clear it with ``clear``, not list.clear)."""
        name = job_name(job)
        with self._lock:
            return [entry.payload for entry in self._entries if entry.name == name]

    def all_jobs(self, queue: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e.payload for e in self._entries if queue is None or e.payload.get("queue") == queue]

    def dead_jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._dead)

    def next_at(self, job: object | None = None) -> float | None:
        """When the next job (of job, or of any) is due; None when nothing is waiting."""
        with self._lock:
            times = [e.run_at for e in self._select(job)]
        return min(times) if times else None

    # ---- forgetting -------------------------------------------------------------------------------
    def clear(self, job: object) -> None:
        name = job_name(job)
        with self._lock:
            self._entries = [entry for entry in self._entries if entry.name != name]

    def clear_all(self) -> None:
        with self._lock:
            self._entries = []
            self._dead = []

    # ---- running ----------------------------------------------------------------------------------
    def perform_one(self, job: object, *, until: Moment | None = None) -> Any:
        """Run the next due job of job and return what it returned; EmptyQueueError when none is due."""
        name = job_name(job)
        cutoff = self._cutoff(until, retry=False)
        due = self._due(name, cutoff)
        if not due or not self._take(due[0]):
            raise EmptyQueueError(f"no {name} job is waiting in fake mode{self._waiting_hint(name, cutoff)}")
        return self._run(due[0], retry=False)

    def drain(
        self,
        job: object | None,
        *,
        until: Moment | None = None,
        retry: bool = False,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
    ) -> int:
        """Run due jobs (of job, or of every job when None) until none is left; returns how many ran.

        A round runs every job due when it starts; jobs enqueued meanwhile wait for the next round.
        After max_rounds rounds with work still due, DrainLoopError says which jobs kept coming.
        """
        name = None if job is None else job_name(job)
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
        cutoff = self._cutoff(until, retry)
        ran = 0
        for _ in range(max_rounds):
            batch = self._due(name, cutoff)
            if not batch:
                return ran
            for entry in batch:
                if self._take(entry):
                    self._run(entry, retry=retry)
                    ran += 1
        left = self._due(name, cutoff)
        if left:
            counts: dict[str, int] = {}
            for entry in left:
                counts[entry.name] = counts.get(entry.name, 0) + 1
            waiting = ", ".join(f"{n} ({c})" for n, c in sorted(counts.items()))
            raise DrainLoopError(
                f"drained {max_rounds} rounds ({ran} jobs) and jobs are still due: {waiting}; a job probably "
                "enqueues itself or another job in a cycle. Raise max_rounds if the chain is meant to be that long."
            )
        return ran

    @staticmethod
    def _cutoff(until: Moment | None, retry: bool) -> float | None:
        # Without a frozen clock every job counts as due (Sidekiq drains scheduled jobs too), except
        # when retrying: a retry is always in the future, and running it at once would loop.
        if until is not None:
            return epoch_seconds(until)
        if clock.frozen or retry:
            return clock.now()
        return None

    def _select(self, job: object | None) -> list[FakeEntry]:
        name = None if job is None else job_name(job)
        return [e for e in self._entries if name is None or e.name == name]

    def _due(self, name: str | None, cutoff: float | None) -> list[FakeEntry]:
        with self._lock:
            # A job enqueued to run now is due whatever the clock says, even after travelling back in time.
            due = [
                e for e in self._select(name) if cutoff is None or "at" not in e.payload or e.run_at <= cutoff
            ]
        return sorted(due, key=lambda e: (e.run_at, e.seq))

    def _take(self, entry: FakeEntry) -> bool:
        """Remove entry before it runs (as Sidekiq does), so a job that raises is not run twice."""
        with self._lock:
            for index, candidate in enumerate(self._entries):
                if candidate is entry:
                    del self._entries[index]
                    return True
        return False

    def _waiting_hint(self, name: str, cutoff: float | None) -> str:
        later = [e.run_at for e in self._select(name)]
        if not later or cutoff is None:
            return ""
        return (
            f" by {_format_time(cutoff)}; {len(later)} scheduled later, the first at {_format_time(min(later))} "
            "(advance the test clock to reach it)"
        )

    def _run(self, entry: FakeEntry, *, retry: bool) -> Any:
        from sidequest.runtime.execute import perform, resolve

        config = get_config()
        # with retries, the job runs on a copy that the failure is then written to, as in the worker
        # (the retry hooks see the instance that performed, its payload carrying the failure fields)
        payload = json.loads(json.dumps(entry.payload)) if retry else entry.payload
        definition, instance = resolve(payload)
        try:
            _, result = perform(definition, instance, payload, config, run_coroutine=run_coroutine)
        except Exception as exc:
            if not retry:
                raise
            self._record_failure(payload, exc, definition, instance)
            return None
        return result

    def _record_failure(
        self, job: dict[str, Any], exc: Exception, definition: JobDefinition, instance: Any
    ) -> None:
        """Hand the failure to the worker's own retry rules, then keep the job where the worker would."""
        from sidequest.runtime import retry as retry_rules

        config = get_config()
        job.pop("at", None)
        job.pop("enqueued_at", None)
        decision = retry_rules.decide(job, exc, definition, config, _time.now(), instance=instance)
        with self._lock:
            if decision.outcome == "retry":
                job["at"] = decision.score
                self._add(job)
            elif decision.outcome == "dead":
                self._dead.append(job)


def _format_time(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: The process's fake-mode lists (the mode switch points the client at ``queues.deliver``).
queues = FakeQueues()

__all__ = ["DrainLoopError", "FakeQueues", "JobRef", "job_name", "queues"]
