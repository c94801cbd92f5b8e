"""The store contract: everything the client, worker and operator API need from storage.

Payloads are opaque strings here: stores never parse or re-encode them, except where a move from a
sorted set to a queue must stamp ``enqueued_at`` (see payload.stamp_enqueued_at) or read the queue
name (payload.queue_of). Sorted-set names are Sidekiq's: "schedule", "retry" and "dead", scored in
float epoch seconds.

Every method documents its atomicity. "Atomic" means other clients see all of the effect or none of
it, and two processes racing on the same entry never both get it.

Reliable fetch: ``fetch`` moves jobs into an in-progress list owned by the fetching process
(identity). They stay there until ``ack`` (finished, retried or dead) or ``requeue`` (shutdown). If the
owner's heartbeat record (written by ``beat``) is gone, ``recover`` pushes its in-progress jobs back to
their queues. A process must ``beat`` before its first ``fetch`` so it is never mistaken for dead.
``recover`` counts recoveries per job: a job whose process died under it max_recoveries times is a
poison pill (it kills every worker that runs it), and goes to the dead set instead (crashed_entry).

Operator methods (listing, moving and deleting jobs, pausing queues, metrics) serve sidequest.api,
their one caller; the dashboard and the CLI go through it. A paused queue is skipped inside fetch's
own atomic step, so pausing needs no worker to be told.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sidequest.payload import top_level_value_span
from sidequest.stores.base_periodic import PeriodicState as PeriodicState  # re-exported for stores
from sidequest.stores.base_periodic import PeriodicStore
from sidequest.stores.batches import BatchStore

#: Per-minute job metrics are kept this many seconds (Sidekiq 7's 8 hours).
METRICS_RETENTION = 8 * 3600


def minute_of(epoch: float) -> int:
    """The epoch second starting the UTC minute that holds epoch (metrics are counted per minute)."""
    return int(epoch // 60) * 60


#: The class of dead-set entries that wrap a payload which cannot be run; the original is args[0].
INVALID_PAYLOAD_CLASS = "sidequest.InvalidPayload"


def invalid_payload_entry(
    raw: str, *, queue: str, jid: str, now: float, error_message: str, error_class: str = "PayloadError"
) -> str:
    """The one shape of a dead-set entry wrapping a payload that cannot be run.

    Sidekiq stores the bare string, which its Web UI cannot show; this wrapper keeps every byte of
    raw as args[0] and gives the dead set an error that says why. The Lua scripts fill in
    INVALID_PAYLOAD_TEMPLATE, this same shape, so every store writes the same fields.
    """
    stamp = float(now)
    entry = {
        "retry": False,
        "queue": queue,
        "args": [raw],
        "class": INVALID_PAYLOAD_CLASS,
        "jid": jid,
        "created_at": stamp,
        "error_message": error_message,
        "error_class": error_class,
        "failed_at": stamp,
        "retry_count": 0,
    }
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


#: invalid_payload_entry with blanks, passed to promote.lua and recover.lua (they set args, jid, queue,
#: created_at, failed_at, error_message and error_class).
INVALID_PAYLOAD_TEMPLATE = invalid_payload_entry("", queue="default", jid="", now=0.0, error_message="")


def derived_jid(raw: str, now: float) -> str:
    """A jid for a wrapper derived from raw and now, so every store (and the Lua scripts) write the same."""
    return hashlib.sha1((raw + repr(float(now))).encode("utf-8", "surrogateescape")).hexdigest()[:24]


def unreadable_entry(raw: str, name: str, now: float) -> str:
    """The dead-set entry promote_due writes for an entry of set name whose queue cannot be read."""
    reason = (
        f'this {name} entry has no readable "queue" (it is not a JSON object naming its queue, or is '
        "nested too deeply to read), so it could not be enqueued when due"
    )
    return invalid_payload_entry(
        raw, queue="default", jid=derived_jid(raw, now), now=now, error_message=reason
    )


def search_texts(texts: str | Sequence[str]) -> tuple[str, ...]:
    """set_scan's substring or also as a tuple of distinct texts (a str is one text)."""
    return (texts,) if isinstance(texts, str) else tuple(dict.fromkeys(texts))


#: A job whose process died under it this many times goes to the dead set (Settings.max_recoveries).
MAX_RECOVERIES = 3
#: Redis keeps a job's recovery count this long after its last recovery (SQLite keeps it on the row).
RECOVERY_COUNT_TTL = 7 * 24 * 3600


def crashed_entry(raw: str, recoveries: int, now: float) -> str | None:
    """The dead-set entry recover writes for a poison pill, or None for a job with ``"dead": false``.

    The payload's text is edited, never re-encoded (error_class, error_message, and failed_at when
    absent), as promote edits enqueued_at; recover.lua makes the same edit. A payload that is not a
    JSON object is wrapped by invalid_payload_entry, its bytes in args[0].
    """
    stamp = repr(float(now))
    message = (
        f"the worker process running this job died {recoveries} times (it was recovered after each crash); "
        "moved to the dead set instead of running it again"
    )
    try:
        is_object = isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        is_object = False
    if not is_object:
        return invalid_payload_entry(
            raw,
            queue="default",
            jid=derived_jid(raw, now),
            now=now,
            error_message=message,
            error_class="ProcessCrashed",
        )
    dead = top_level_value_span(raw, "dead")
    if dead is not None and raw[dead[0] : dead[1] + 1] == "false":
        return None

    def put(text: str, key: str, value: str, *, replace: bool = True) -> str:
        span = top_level_value_span(text, key)
        if span is not None:
            return text[: span[0]] + value + text[span[1] + 1 :] if replace else text
        body = text.rstrip()[:-1].rstrip()
        return f'{body}{"" if body.endswith("{") else ","}"{key}":{value}}}'

    entry = put(raw, "error_class", '"ProcessCrashed"')
    entry = put(entry, "error_message", json.dumps(message))
    return put(entry, "failed_at", stamp, replace=False)


@dataclass(frozen=True, slots=True)
class Recovered:
    """A job recover took from a process that died: back to its queue, or buried as a poison pill."""

    owner: str  # the identity of the process that died
    work: Work  # the queue it came from and the payload as it was held
    recoveries: int  # how many times its process has died under it, this time included
    buried: bool  # True: it went to the dead set (or was dropped, with "dead": false), not to its queue


@dataclass(frozen=True, slots=True)
class Work:
    """A fetched job: the queue it came from and its exact stored string (the key to ack or requeue it)."""

    queue: str
    payload: str


class FetchUnderWay:
    """A fetch sent to the store whose reply is read later (Store.fetch_begin).

    The worker's fetching thread runs a job while the store moves the next ones, instead of sleeping
    through the round trip and handing the jobs to another thread: on a busy worker the thread
    switches cost more than the jobs. This base form is a fetch already done; stores that talk over
    a socket (Redis) return one whose reply is still on its way.
    """

    def __init__(self, works: list[Work]) -> None:
        self._works = works

    def arrived(self) -> bool:
        """True when result() would not wait."""
        return True

    def result(self) -> list[Work]:
        """The jobs the fetch moved into the in-progress list; waits for the reply. Called once."""
        return self._works


@dataclass(slots=True)
class JobCounts:
    """Executions, failures and run time of one job class (Sidekiq 7's metrics: "p", "f", "ms").

    executions counts every run, failures included; ms sums the wall time of successful runs only.
    buckets, when not empty, counts successful runs per HISTOGRAM_BOUNDS_MS bucket (Sidekiq 7's
    execution-time histogram); job_metrics leaves it empty, job_histogram reads it.
    """

    executions: int = 0
    failures: int = 0
    ms: float = 0.0
    buckets: list[int] = field(default_factory=list)

    def add(self, other: JobCounts) -> None:
        self.executions += other.executions
        self.failures += other.failures
        self.ms += other.ms
        if other.buckets:
            self.buckets = add_buckets(self.buckets, other.buckets)


#: Upper bounds (ms, exclusive) of Sidekiq 7's execution-time histogram buckets; a 26th bucket holds
#: everything slower.
HISTOGRAM_BOUNDS_MS = (
    20, 30, 45, 65, 100, 150, 225, 335, 500, 750, 1100, 1700, 2500, 3800, 5750, 8500, 13000, 20000,
    30000, 45000, 65000, 100000, 150000, 225000, 335000,
)  # fmt: skip
HISTOGRAM_BUCKETS = len(HISTOGRAM_BOUNDS_MS) + 1


def bucket_of(ms: float) -> int:
    """The histogram bucket of a run of ms milliseconds (the first bound it is below, as Sidekiq)."""
    return bisect.bisect_right(HISTOGRAM_BOUNDS_MS, ms)


def add_buckets(left: Sequence[int], right: Sequence[int]) -> list[int]:
    """Two histograms summed bucket by bucket (either may be empty)."""
    if not left:
        return list(right)
    if not right:
        return list(left)
    return [a + b for a, b in zip(left, right, strict=True)]


@dataclass(slots=True)
class Beat:
    """One heartbeat: the process record, its running jobs, and counters to add to the stats."""

    identity: str
    info: str  # JSON of the static process data (Sidekiq's "info" field), serialised once by the caller
    busy: int
    beat: float
    quiet: bool
    rss_kb: int
    rtt_us: int
    concurrency: int
    work: dict[str, str]  # thread id -> JSON {"queue", "payload" (raw job string), "run_at" (int secs)}
    ttl: float
    processed: int = 0
    failed: int = 0
    #: per job class, counted since the last beat; the store adds them to the minute of ``beat``
    metrics: dict[str, JobCounts] = field(default_factory=dict)


@dataclass(slots=True)
class BeatResult:
    existed: bool  # the process record was there before this beat (False on the first beat or after a store outage)
    signals: list[str] = field(
        default_factory=list
    )  # remote signals popped for this process: TSTP, TERM, TTIN


@dataclass(slots=True)
class ProcessRecord:
    """A live process as the operator API shows it."""

    identity: str
    info: dict[str, Any]
    busy: int
    beat: float
    quiet: bool
    rss_kb: int
    rtt_us: int
    concurrency: int

    @classmethod
    def read(
        cls,
        identity: str,
        info: str,
        busy: int,
        beat: float,
        quiet: bool,
        rss_kb: int,
        rtt_us: int,
        concurrency: int,
    ) -> ProcessRecord:
        """The record from what a beat stored: every store keeps Beat's fields, info as its JSON text
        (one written by another client that is not a JSON object reads as {})."""
        try:
            fields = json.loads(info)
        except ValueError:
            fields = {}
        return cls(
            identity,
            fields if isinstance(fields, dict) else {},
            int(busy),
            float(beat),
            bool(quiet),
            int(rss_kb),
            int(rtt_us),
            int(concurrency),
        )

    @classmethod
    def from_beat(cls, beat: Beat) -> ProcessRecord:
        return cls.read(
            beat.identity,
            beat.info,
            beat.busy,
            beat.beat,
            beat.quiet,
            beat.rss_kb,
            beat.rtt_us,
            beat.concurrency,
        )


@dataclass(slots=True)
class Counters:
    processed: int
    failed: int


class Store(BatchStore, PeriodicStore, ABC):
    """Storage for queues, sorted sets, processes and counters. One instance is shared by all threads."""

    url: str = ""

    # ---- queues --------------------------------------------------------------------------------
    @abstractmethod
    def push(self, items: Sequence[tuple[str, str]]) -> None:
        """Append (queue, payload) pairs to their queues and record the queue names.

        Atomicity: each job is stored whole or not at all; jobs of one call become visible in order.
        A batch may be partly written if the store fails mid-call (the caller sees the error).
        """

    @abstractmethod
    def schedule(self, items: Sequence[tuple[float, str]]) -> None:
        """Add (run_at, payload) pairs to the "schedule" set. Same atomicity as push."""

    @abstractmethod
    def fetch(self, identity: str, queues: Sequence[str], limit: int, timeout: float = 0.0) -> list[Work]:
        """Move up to limit jobs, oldest first, into identity's in-progress list and return them.

        Queues are tried in the order given: the first non-empty queue is drained before the next is
        tried. With nothing available, wait up to timeout seconds for a job, then return [].
        Atomicity: each job moves atomically; no two fetchers ever receive the same stored job.
        """

    def fetch_begin(self, identity: str, queues: Sequence[str], limit: int) -> FetchUnderWay:
        """Start a fetch of up to limit jobs (as fetch with no timeout) and return before its reply.

        The jobs are in identity's in-progress list from the moment the store runs the fetch, read or
        not: a process that dies with a reply unread loses nothing (recovery returns them). The caller
        reads the result before its next call on the store from that thread. Errors may come from
        either call. This default fetches at once.
        """
        return FetchUnderWay(self.fetch(identity, queues, limit))

    @abstractmethod
    def ack(self, identity: str, works: Sequence[Work]) -> int:
        """Remove finished jobs from identity's in-progress list; returns how many were still there.

        A job recovered by another process while it ran is no longer there; the count tells the caller.
        """

    @abstractmethod
    def requeue(self, identity: str, works: Sequence[Work]) -> None:
        """Put jobs back at the front of their queues (next to be fetched) and out of in-progress.

        Atomicity: each job moves atomically, so it is never in both places nor in neither. A job no
        longer in identity's in-progress list (already recovered elsewhere) is not pushed again.
        """

    @abstractmethod
    def in_progress(self, identity: str) -> list[Work]:
        """The jobs identity has fetched and not yet acked or requeued."""

    @abstractmethod
    def recover(self, max_recoveries: int = MAX_RECOVERIES) -> list[Recovered]:
        """Push back to their queues the in-progress jobs of every process whose heartbeat record is gone.

        Each job's recoveries are counted; a job recovered for the max_recoveries-th time is a poison
        pill and goes to the "dead" set as crashed_entry writes it (dropped if it says "dead": false),
        not back to its queue. The dead set is not trimmed here (the next kill trims it).
        Returns every job taken from a dead process, in no particular order. Atomicity: per process,
        the liveness check, the counts and the moves are one atomic step, so a job is recovered (and
        counted) once even with several processes recovering.
        """

    @abstractmethod
    def queue_names(self) -> list[str]:
        """Known queue names, sorted (Sidekiq's "queues" set)."""

    @abstractmethod
    def queue_size(self, queue: str) -> int: ...

    @abstractmethod
    def queue_range(self, queue: str, start: int, stop: int) -> list[str]:
        """Payloads by position, 0 = newest (like LRANGE on Sidekiq's list); stop is inclusive, -1 = last."""

    @abstractmethod
    def queue_oldest(self, queue: str) -> str | None:
        """The next job to be fetched (for latency), or None when empty."""

    @abstractmethod
    def queue_remove(self, queue: str, payload: str) -> int:
        """Remove one job equal to payload; returns 1 if removed, else 0."""

    @abstractmethod
    def queue_clear(self, queue: str) -> None:
        """Drop the queue's jobs and forget its name. Atomic."""

    # ---- sorted sets: schedule, retry, dead -------------------------------------------------------
    @abstractmethod
    def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None:
        """Add (score, payload) pairs to a sorted set; an existing equal payload gets the new score."""

    @abstractmethod
    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        """Move up to limit entries scored <= now from set name to the end of their queues.

        Each moved payload gets enqueued_at = now (other bytes unchanged) and its queue is recorded.
        A payload whose queue cannot be read goes to the "dead" set instead of being lost, wrapped
        by unreadable_entry (its bytes in args[0], the reason in error_message).
        Atomicity: each entry moves atomically; concurrent pollers never move one entry twice.
        Returns how many entries left the set.
        """

    @abstractmethod
    def next_due(self, names: Sequence[str]) -> float | None:
        """The lowest score across the given sets, or None if they are all empty."""

    @abstractmethod
    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        """Add payload to "dead" at score now, then trim entries older than now - max_age and keep at
        most max_jobs - 1 newest (Sidekiq's rank arithmetic). Atomic."""

    @abstractmethod
    def set_size(self, name: str) -> int: ...

    @abstractmethod
    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        """(score, payload) by rank, lowest score first (highest first with reverse); stop inclusive, -1 = last."""

    @abstractmethod
    def set_by_score(self, name: str, score: float) -> list[str]:
        """Payloads with exactly this score (the Web UI addresses entries by score and jid)."""

    @abstractmethod
    def set_remove(self, name: str, payloads: Sequence[str]) -> int:
        """Remove entries equal to these payloads; returns how many were removed. Atomic per entry."""

    @abstractmethod
    def set_clear(self, name: str) -> None: ...

    @abstractmethod
    def set_scan(
        self, name: str, substring: str | Sequence[str], limit: int = 1000, *, also: str | Sequence[str] = ""
    ) -> list[tuple[float, str]]:
        """Entries whose payload contains substring (or, given several, any one of them) and also
        contains `also` (given several, every one of them), lowest score first (Sidekiq's filter
        box); when more than limit match, the limit newest (highest scores). Reads the whole set
        unless limit entries match sooner, newest first; with several substrings, an `also` text
        every match must hold anyway (a piece common to all of them) spares testing each."""

    # ---- processes -------------------------------------------------------------------------------
    @abstractmethod
    def beat(self, beat: Beat) -> BeatResult:
        """Write the process record and its running jobs with a TTL, add the counters and per-class
        metrics (as add_metrics at beat.beat), pop signals.

        Atomicity: the record and work map are replaced together. Counters are added once: if this
        raises, the caller keeps the counts and adds them to the next beat.
        """

    @abstractmethod
    def remove_process(self, identity: str) -> None:
        """Clean stop: drop the process from the registry and its running-jobs map."""

    @abstractmethod
    def processes(self) -> list[ProcessRecord]:
        """Live processes (heartbeat record present), sorted by identity; prunes dead registry entries."""

    @abstractmethod
    def work(self) -> list[tuple[str, str, str]]:
        """Running jobs of live processes as (identity, thread id, work JSON)."""

    @abstractmethod
    def signal(self, identity: str, signal: str) -> None:
        """Queue a signal (TSTP, TERM, TTIN) for a process; it acts on it at its next beat."""

    # ---- counters --------------------------------------------------------------------------------
    @abstractmethod
    def add_counts(self, processed: int, failed: int, now: float) -> None:
        """Add to the lifetime and daily (UTC) processed/failed counters."""

    @abstractmethod
    def counters(self) -> Counters: ...

    @abstractmethod
    def history(self, days: int, now: float) -> dict[str, tuple[int, int]]:
        """Daily (processed, failed) for the last days UTC dates, newest first, "YYYY-MM-DD" keys."""

    @abstractmethod
    def reset_counters(self) -> None: ...

    # ---- operator methods (read and steered by sidequest.api only) -------------------------------
    @abstractmethod
    def pause_queue(self, queue: str) -> None:
        """Stop every fetch from taking jobs of queue until resume_queue; pushes still land.

        Atomicity: fetch checks the paused state in the same atomic step as the move, so no job of a
        paused queue is handed out after this returns (a job fetched before it may still run).
        """

    @abstractmethod
    def resume_queue(self, queue: str) -> None:
        """Let fetches take jobs of queue again."""

    @abstractmethod
    def paused_queues(self) -> list[str]:
        """Names of paused queues, sorted."""

    @abstractmethod
    def set_enqueue(self, name: str, entries: Sequence[tuple[str, str]], now: float) -> int:
        """For each (stored, replacement): remove stored from set name and, only if it was there,
        push replacement to the end of its queue (payload.queue_of) with enqueued_at = now.

        Retry now and add to queue. Atomicity: per entry, the removal and the push are one step, so
        two operators retrying the same entry enqueue it once and a failure never loses it.
        Returns how many entries moved.
        """

    @abstractmethod
    def set_kill(self, name: str, payloads: Sequence[str], now: float, max_jobs: int, max_age: float) -> int:
        """Move entries of set name to "dead" at score now (trimmed as kill trims); returns how many moved.

        Atomicity: per entry, the removal and the insertion into "dead" are one step.
        """

    @abstractmethod
    def held_by_dead(self, limit: int = 100) -> tuple[int, list[tuple[str, Work]]]:
        """Jobs in progress for processes whose heartbeat record is gone, waiting for recover().

        Returns (how many there are, up to limit of them as (owner identity, work)).
        """

    @abstractmethod
    def add_metrics(self, metrics: Mapping[str, JobCounts], now: float) -> None:
        """Add per-class counts to the UTC minute of now; minutes older than METRICS_RETENTION go."""

    @abstractmethod
    def job_metrics(self, now: float, minutes: int) -> dict[int, dict[str, JobCounts]]:
        """Per-class counts of the last minutes UTC minutes up to now's, keyed by the minute's epoch
        second (minutes with no counts are left out; buckets are not read)."""

    @abstractmethod
    def job_histogram(self, job_class: str, now: float, minutes: int) -> dict[int, list[int]]:
        """job_class's execution-time histogram (HISTOGRAM_BUCKETS counts) per minute, for the last
        minutes UTC minutes up to now's (minutes without successful runs are left out)."""

    def info(self) -> dict[str, str]:
        """What an operator wants to know about the store itself (kind, version, size), as text."""
        return {"store": type(self).__name__}

    # ---- records: small values by key, kept for a while -----------------------------------------
    @abstractmethod
    def put_record(self, key: str, value: str, ttl: float) -> None:
        """Keep value under key for ttl seconds, replacing any earlier value. Atomic.

        For integrations that keep a little state per job, such as the Django Tasks backend's task
        results. The job path (push, fetch, ack, retry) never reads or writes records.
        """

    @abstractmethod
    def get_record(self, key: str) -> str | None:
        """The value kept under key, or None when it was never stored or its ttl has passed."""

    # ---- lifecycle -------------------------------------------------------------------------------
    def ping(self) -> float:
        """Round-trip time to the store in seconds (0 for in-process stores)."""
        return 0.0

    def close(self) -> None:
        """Release connections and files; the store must not be used afterwards."""
        return None
