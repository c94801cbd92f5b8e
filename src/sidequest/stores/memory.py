"""An in-process store: the same contract as Redis and SQLite, kept in dicts behind one lock.

It is a real store, not a mock: fake testing mode and fast unit tests run on it, and it passes the
contract suite. Nothing survives the process, so it only suits tests and single-process demos.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence

from sidequest._time import utc_day
from sidequest.payload import queue_of, stamp_enqueued_at
from sidequest.stores.base import (
    MAX_RECOVERIES,
    METRICS_RETENTION,
    Beat,
    BeatResult,
    Counters,
    JobCounts,
    ProcessRecord,
    Recovered,
    Store,
    Work,
    crashed_entry,
    minute_of,
    search_texts,
    unreadable_entry,
)
from sidequest.stores.memory_batches import MemoryBatches
from sidequest.stores.memory_extras import PeriodicMemory


class _SortedSet:
    """Score-ordered entries with unique members (the subset of a Redis ZSET we need)."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []

    def add(self, score: float, member: str) -> None:
        old = self.scores.get(member)
        if old is not None:
            self.order.remove((old, member))
        self.scores[member] = score
        bisect.insort(self.order, (score, member))

    def remove(self, member: str) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        return True


class MemoryStore(MemoryBatches, PeriodicMemory, Store):
    url = "memory://"

    def __init__(self) -> None:
        self._lock = threading.Condition(threading.RLock())
        self._queues: dict[str, deque[str]] = {}
        self._known_queues: set[str] = set()
        self._sets: dict[str, _SortedSet] = {}
        self._in_progress: dict[str, list[Work]] = {}
        self._processes: dict[str, tuple[Beat, float]] = {}  # identity -> (beat, expires at)
        self._registry: set[str] = set()
        self._work: dict[str, dict[str, str]] = {}
        self._signals: dict[str, deque[str]] = {}
        self._counters: dict[str, int] = {}
        self._recoveries: dict[str, int] = {}  # payload -> times its process died under it
        self._paused: set[str] = set()
        self._metrics: dict[int, dict[str, JobCounts]] = {}  # minute -> class -> counts
        self._records: dict[str, tuple[str, float]] = {}  # key -> (value, monotonic expiry)

    # ---- queues ----
    def push(self, items: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            for queue, payload in items:
                self._known_queues.add(queue)
                self._queues.setdefault(queue, deque()).appendleft(payload)
            self._lock.notify_all()

    def schedule(self, items: Sequence[tuple[float, str]]) -> None:
        self.add_to_set("schedule", items)

    def fetch(self, identity: str, queues: Sequence[str], limit: int, timeout: float = 0.0) -> list[Work]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                taken: list[Work] = []
                for queue in queues:
                    if queue in self._paused:
                        continue
                    items = self._queues.get(queue)
                    while items and len(taken) < limit:
                        taken.append(Work(queue, items.pop()))
                    if len(taken) >= limit:
                        break
                if taken:
                    self._in_progress.setdefault(identity, []).extend(taken)
                    return taken
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._lock.wait(remaining)

    def ack(self, identity: str, works: Sequence[Work]) -> int:
        self.flush_batch_reports()  # a job's batch report is stored before its acknowledgement
        with self._lock:
            held = self._in_progress.get(identity, [])
            removed = 0
            for work in works:
                try:
                    held.remove(work)
                    removed += 1
                except ValueError:
                    pass
            return removed

    def requeue(self, identity: str, works: Sequence[Work]) -> None:
        with self._lock:
            held = self._in_progress.get(identity, [])
            for work in works:
                try:
                    held.remove(work)
                except ValueError:
                    continue
                self._known_queues.add(work.queue)
                self._queues.setdefault(work.queue, deque()).append(work.payload)
            self._lock.notify_all()

    def in_progress(self, identity: str) -> list[Work]:
        with self._lock:
            return list(self._in_progress.get(identity, []))

    def recover(self, max_recoveries: int = MAX_RECOVERIES) -> list[Recovered]:
        with self._lock:
            self._expire()
            now = time.time()
            recovered: list[Recovered] = []
            for identity in [i for i in self._in_progress if i not in self._processes]:
                for work in self._in_progress.pop(identity):
                    count = self._recoveries.get(work.payload, 0) + 1
                    buried = count >= max_recoveries
                    if buried:
                        self._recoveries.pop(work.payload, None)
                        entry = crashed_entry(work.payload, count, now)
                        if entry is not None:
                            self._sets.setdefault("dead", _SortedSet()).add(now, entry)
                    else:
                        self._recoveries[work.payload] = count
                        self._known_queues.add(work.queue)
                        self._queues.setdefault(work.queue, deque()).append(work.payload)
                    recovered.append(Recovered(identity, work, count, buried))
            if recovered:
                self._lock.notify_all()
            return recovered

    def queue_names(self) -> list[str]:
        with self._lock:
            return sorted(self._known_queues)

    def queue_size(self, queue: str) -> int:
        with self._lock:
            return len(self._queues.get(queue, ()))

    def queue_range(self, queue: str, start: int, stop: int) -> list[str]:
        with self._lock:
            items = list(self._queues.get(queue, ()))
            return items[start : None if stop == -1 else stop + 1]

    def queue_oldest(self, queue: str) -> str | None:
        with self._lock:
            items = self._queues.get(queue)
            return items[-1] if items else None

    def queue_remove(self, queue: str, payload: str) -> int:
        with self._lock:
            items = self._queues.get(queue)
            if items is None:
                return 0
            try:
                items.remove(payload)
            except ValueError:
                return 0
            return 1

    def queue_clear(self, queue: str) -> None:
        with self._lock:
            self._queues.pop(queue, None)
            self._known_queues.discard(queue)

    # ---- sorted sets ----
    def _set(self, name: str) -> _SortedSet:
        return self._sets.setdefault(name, _SortedSet())

    def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None:
        with self._lock:
            target = self._set(name)
            for score, payload in items:
                target.add(float(score), payload)
            self._lock.notify_all()

    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        with self._lock:
            source = self._set(name)
            moved = 0
            while source.order and source.order[0][0] <= now and moved < limit:
                score, payload = source.order[0]
                source.remove(payload)
                queue = queue_of(payload, "")
                if queue:
                    self._known_queues.add(queue)
                    self._queues.setdefault(queue, deque()).appendleft(stamp_enqueued_at(payload, now))
                else:
                    self._set("dead").add(now, unreadable_entry(payload, name, now))
                moved += 1
            if moved:
                self._lock.notify_all()
            return moved

    def next_due(self, names: Sequence[str]) -> float | None:
        with self._lock:
            firsts = [self._set(n).order[0][0] for n in names if self._set(n).order]
            return min(firsts) if firsts else None

    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        with self._lock:
            dead = self._set("dead")
            dead.add(now, payload)
            for score, member in list(dead.order):
                if score <= now - max_age:
                    dead.remove(member)
            excess = len(dead.order) - max(max_jobs - 1, 0)
            for _, member in list(dead.order[: max(excess, 0)]):
                dead.remove(member)

    def set_size(self, name: str) -> int:
        with self._lock:
            return len(self._set(name).order)

    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        with self._lock:
            entries = list(self._set(name).order)
            if reverse:
                entries.reverse()
            return entries[start : None if stop == -1 else stop + 1]

    def set_by_score(self, name: str, score: float) -> list[str]:
        with self._lock:
            return [member for s, member in self._set(name).order if s == score]

    def set_remove(self, name: str, payloads: Sequence[str]) -> int:
        with self._lock:
            target = self._set(name)
            return sum(1 for payload in payloads if target.remove(payload))

    def set_clear(self, name: str) -> None:
        with self._lock:
            self._sets.pop(name, None)

    def set_scan(
        self, name: str, substring: str | Sequence[str], limit: int = 1000, *, also: str | Sequence[str] = ""
    ) -> list[tuple[float, str]]:
        texts, required = search_texts(substring), search_texts(also)
        with self._lock:
            found = [
                (s, m)
                for s, m in self._set(name).order
                if all(t in m for t in required) and any(t in m for t in texts)
            ]
            return found[max(len(found) - limit, 0) :]

    # ---- processes ----
    def _expire(self) -> None:
        now = time.time()
        for identity in [i for i, (_, expires) in self._processes.items() if expires <= now]:
            del self._processes[identity]
            self._work.pop(identity, None)

    def beat(self, beat: Beat) -> BeatResult:
        with self._lock:
            self._expire()
            existed = beat.identity in self._processes
            self._processes[beat.identity] = (beat, time.time() + beat.ttl)
            self._registry.add(beat.identity)
            self._work[beat.identity] = dict(beat.work)
            if beat.processed or beat.failed:
                self.add_counts(beat.processed, beat.failed, beat.beat)
            if beat.metrics:
                self.add_metrics(beat.metrics, beat.beat)
            queued = self._signals.get(beat.identity)
            signals = [queued.pop()] if queued else []
            return BeatResult(existed, signals)

    def remove_process(self, identity: str) -> None:
        with self._lock:
            self._registry.discard(identity)
            self._work.pop(identity, None)

    def processes(self) -> list[ProcessRecord]:

        with self._lock:
            self._expire()
            self._registry &= set(self._processes)
            return [
                ProcessRecord.from_beat(self._processes[identity][0]) for identity in sorted(self._registry)
            ]

    def work(self) -> list[tuple[str, str, str]]:
        with self._lock:
            self._expire()
            return [
                (i, tid, w)
                for i in sorted(self._work)
                if i in self._registry
                for tid, w in self._work[i].items()
            ]

    def signal(self, identity: str, signal: str) -> None:
        with self._lock:
            self._signals.setdefault(identity, deque()).appendleft(signal)

    # ---- counters ----
    def add_counts(self, processed: int, failed: int, now: float) -> None:
        day = utc_day(now)
        with self._lock:
            for kind, amount in (("processed", processed), ("failed", failed)):
                if amount:
                    self._counters[kind] = self._counters.get(kind, 0) + amount
                    self._counters[f"{kind}:{day}"] = self._counters.get(f"{kind}:{day}", 0) + amount

    def counters(self) -> Counters:
        with self._lock:
            return Counters(self._counters.get("processed", 0), self._counters.get("failed", 0))

    def history(self, days: int, now: float) -> dict[str, tuple[int, int]]:
        with self._lock:
            out = {}
            for offset in range(days):
                day = utc_day(now - offset * 86400)
                out[day] = (self._counters.get(f"processed:{day}", 0), self._counters.get(f"failed:{day}", 0))
            return out

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = {k: v for k, v in self._counters.items() if ":" in k}

    # ---- operator methods ----
    def pause_queue(self, queue: str) -> None:
        with self._lock:
            self._paused.add(queue)

    def resume_queue(self, queue: str) -> None:
        with self._lock:
            self._paused.discard(queue)
            self._lock.notify_all()

    def paused_queues(self) -> list[str]:
        with self._lock:
            return sorted(self._paused)

    def set_enqueue(self, name: str, entries: Sequence[tuple[str, str]], now: float) -> int:
        with self._lock:
            source = self._set(name)
            moved = 0
            for stored, replacement in entries:
                if not source.remove(stored):
                    continue
                queue = queue_of(replacement, "default")
                self._known_queues.add(queue)
                self._queues.setdefault(queue, deque()).appendleft(stamp_enqueued_at(replacement, now))
                moved += 1
            if moved:
                self._lock.notify_all()
            return moved

    def set_kill(self, name: str, payloads: Sequence[str], now: float, max_jobs: int, max_age: float) -> int:
        with self._lock:
            source = self._set(name)
            moved = 0
            for payload in payloads:
                if source.remove(payload):
                    self.kill(payload, now, max_jobs, max_age)
                    moved += 1
            return moved

    def held_by_dead(self, limit: int = 100) -> tuple[int, list[tuple[str, Work]]]:
        with self._lock:
            self._expire()
            held = [
                (identity, work)
                for identity in sorted(self._in_progress)
                if identity not in self._processes
                for work in self._in_progress[identity]
            ]
            return len(held), held[:limit]

    def add_metrics(self, metrics: Mapping[str, JobCounts], now: float) -> None:
        minute = minute_of(now)
        with self._lock:
            by_class = self._metrics.setdefault(minute, {})
            for job_class, counts in metrics.items():
                by_class.setdefault(job_class, JobCounts()).add(counts)
            for old in [m for m in self._metrics if m <= now - METRICS_RETENTION]:
                del self._metrics[old]

    def job_metrics(self, now: float, minutes: int) -> dict[int, dict[str, JobCounts]]:
        last = minute_of(now)
        first = last - 60 * (minutes - 1)
        with self._lock:
            return {
                minute: {k: JobCounts(c.executions, c.failures, c.ms) for k, c in by_class.items()}
                for minute, by_class in sorted(self._metrics.items())
                if first <= minute <= last
            }

    def job_histogram(self, job_class: str, now: float, minutes: int) -> dict[int, list[int]]:
        last = minute_of(now)
        first = last - 60 * (minutes - 1)
        with self._lock:
            return {
                minute: list(by_class[job_class].buckets)
                for minute, by_class in sorted(self._metrics.items())
                if first <= minute <= last and job_class in by_class and by_class[job_class].buckets
            }

    def info(self) -> dict[str, str]:
        return {"store": "memory", "note": "in-process; nothing survives the process"}

    # ---- records ----
    def put_record(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            now = time.monotonic()
            if len(self._records) > 1000:  # forget expired records now and then, not on every read
                self._records = {k: v for k, v in self._records.items() if v[1] > now}
            self._records[key] = (value, now + ttl)

    def get_record(self, key: str) -> str | None:
        with self._lock:
            found = self._records.get(key)
            if found is None or found[1] <= time.monotonic():
                return None
            return found[0]
