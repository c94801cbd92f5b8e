"""Plain records the operator API returns: what the dashboard and the CLI render.

Each is a frozen dataclass of decoded values (datetimes in UTC, the backtrace as lines) plus the raw
stored string, which is the key every action on a job needs (stores find jobs by exact bytes, as
Sidekiq does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from sidequest._time import from_wire, to_datetime
from sidequest.payload import decode_backtrace

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One stored job, decoded for display. A payload that is not a JSON object keeps only raw."""

    jid: str
    job_class: str
    #: wrapped (ActiveJob) or display_class when present, else job_class: what a person recognises
    display_class: str
    args: list[Any]
    queue: str
    created_at: datetime | None
    enqueued_at: datetime | None
    failed_at: datetime | None
    retried_at: datetime | None
    retry_count: int | None
    error_class: str | None
    error_message: str | None
    #: decoded error_backtrace lines; empty when the job was not stored with one
    backtrace: list[str]
    #: the whole decoded payload (empty when raw is not a JSON object)
    item: dict[str, Any]
    #: the exact stored string
    raw: str

    @classmethod
    def from_raw(cls, raw: str, queue: str = "") -> Self:
        """Decode a stored payload; never raises, so one damaged job cannot break a listing."""
        try:
            item = json.loads(raw)
        except (ValueError, RecursionError):
            item = None
        if not isinstance(item, dict):
            return cls(
                "",
                "",
                "(unreadable payload)",
                [],
                queue,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                [],
                {},
                raw,
            )
        job_class = _text(item.get("class"))
        args = item.get("args")
        retry_count = item.get("retry_count")
        return cls(
            jid=_text(item.get("jid")),
            job_class=job_class,
            display_class=_text(item.get("display_class")) or _text(item.get("wrapped")) or job_class,
            args=args if isinstance(args, list) else [],
            queue=_text(item.get("queue")) or queue,
            created_at=to_datetime(item.get("created_at")),
            enqueued_at=to_datetime(item.get("enqueued_at")),
            failed_at=to_datetime(item.get("failed_at")),
            retried_at=to_datetime(item.get("retried_at")),
            retry_count=retry_count
            if isinstance(retry_count, int) and not isinstance(retry_count, bool)
            else None,
            error_class=_text(item.get("error_class")) or None,
            error_message=_text(item.get("error_message")) or None,
            backtrace=decode_backtrace(item.get("error_backtrace")),
            item=item,
            raw=raw,
        )

    @property
    def enqueued_epoch(self) -> float | None:
        """enqueued_at in epoch seconds (for latency)."""
        return from_wire(self.item.get("enqueued_at"))


@dataclass(frozen=True, slots=True)
class SortedEntry(JobRecord):
    """A job in the schedule, retry or dead set, with its score (run-at, next retry or death time)."""

    score: float = 0.0
    set_name: str = ""

    @property
    def key(self) -> str:
        """Sidekiq Web UI's address of an entry: "{score}-{jid}"."""
        return entry_key(self.score, self.jid)

    @property
    def at(self) -> datetime:
        """The score as a time: when it runs (schedule), is retried (retry) or died (dead)."""
        value = to_datetime(self.score)
        assert value is not None
        return value


def entry_key(score: float, jid: str) -> str:
    """Sidekiq's "{score}-{jid}" key; Python's repr of a float is the shortest round trip, as Ruby's to_s."""
    return f"{float(score)!r}-{jid}"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, newest first; page numbers start at 1, like Sidekiq's Web UI."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Processed and failed jobs of one UTC day (Sidekiq's Stats::History)."""

    date: str  # YYYY-MM-DD
    processed: int
    failed: int


@dataclass(frozen=True, slots=True)
class StatsRecord:
    """The dashboard's counters, read together (Sidekiq's Stats)."""

    processed: int
    failed: int
    enqueued: int
    scheduled: int
    retries: int
    dead: int
    processes: int
    busy: int
    #: seconds the next job of the "default" queue has waited (0 when empty)
    default_latency: float
    #: jobs in progress for processes whose heartbeat is gone, waiting to be recovered
    held_by_dead: int
    #: processes that are quiet (taking no new jobs)
    quiet: int
    paused_queues: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QueueSummary:
    name: str
    size: int
    #: seconds the oldest job has waited
    latency: float
    paused: bool


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A live worker process (Sidekiq's ProcessSet entry)."""

    identity: str
    hostname: str
    pid: int
    tag: str
    labels: list[str]
    queues: list[str]
    #: queue -> weight as the process reports it (0 = strict order)
    weights: dict[str, int]
    concurrency: int
    busy: int
    rss_kb: int
    beat: datetime
    started_at: datetime | None
    quiet: bool
    version: str
    embedded: bool
    #: the raw info object
    info: dict[str, Any]

    @property
    def name(self) -> str:
        """hostname:pid, as Sidekiq's Busy page shows a process."""
        return f"{self.hostname}:{self.pid}"


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job a live process is running now (Sidekiq's WorkSet entry)."""

    identity: str
    thread: str
    queue: str
    started_at: datetime | None
    job: JobRecord


@dataclass(frozen=True, slots=True)
class HeldJob:
    """A job held in progress by a process whose heartbeat is gone; recovery will push it back."""

    identity: str
    queue: str
    job: JobRecord


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    minute: datetime
    executions: int
    failures: int
    total_ms: float


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """One job class over a period (Sidekiq 7's Metrics page): runs, failures, run time, per minute."""

    job_class: str
    executions: int
    failures: int
    #: summed wall time of successful runs, in ms
    total_ms: float
    #: oldest minute first; minutes without runs are included with zeros
    minutes: list[MinuteCounts]
    #: successful runs per execution-time bucket over the period (HISTOGRAM_BOUNDS_MS); filled by
    #: Metrics.for_job only
    histogram: list[int] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return self.executions - self.failures

    @property
    def average_ms(self) -> float:
        """Mean run time of successful runs (Sidekiq counts time only for successes)."""
        return self.total_ms / self.successes if self.successes > 0 else 0.0


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
