"""The operator part of RedisStore (mixed into it): paused queues, moves out of the sorted sets, jobs
held by dead processes, per-class metrics and server info. Only sidequest.api calls these.

Key names are in keys.py: the paused set is Sidekiq Pro's ``paused`` and metrics use Sidekiq 7's
(or 8's) per-minute hashes, so a Sidekiq UI sharing the Redis shows the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import redis

from sidequest.payload import queue_of, stamp_enqueued_at
from sidequest.stores import redact
from sidequest.stores.base import HISTOGRAM_BUCKETS, JobCounts, Work, minute_of, search_texts
from sidequest.stores.redis.connection import Connection, translated
from sidequest.stores.redis.held import HeldConnections
from sidequest.stores.redis.keys import METRICS_TTL, Keys
from sidequest.stores.redis.scripts import Scripts
from sidequest.stores.redis.transport import run

#: Entries per ZREVRANGE when searching a set: ~0.26 ms of Redis's time each for 350-byte entries
#: (INFO commandstats), so workers sharing it wait about that long behind a search at most.
SCAN_CHUNK = 2000

_translated = translated


class Operators:
    url: str
    keys: Keys
    _redis: Any
    _connection: Connection
    _scripts: Scripts
    _held: HeldConnections

    # ---- job metrics -----------------------------------------------------------------------------
    def _queue_metrics(
        self, pipe: redis.client.Pipeline, metrics: Mapping[str, JobCounts], now: float
    ) -> None:
        """Sidekiq 7's metrics flush: HINCRBY "<class>|p", "|f", "|ms" on the minute's hash, 8 h TTL."""
        if not metrics:
            return
        key = self.keys.metrics_minute(minute_of(now))
        for job_class, counts in metrics.items():
            if counts.executions:
                pipe.hincrby(key, f"{job_class}|p", counts.executions)
            if counts.failures:
                pipe.hincrby(key, f"{job_class}|f", counts.failures)
            if counts.ms:
                pipe.hincrby(key, f"{job_class}|ms", round(counts.ms))
            increments = [
                part
                for index, count in enumerate(counts.buckets)
                if count
                for part in ("INCRBY", "u16", f"#{index}", count)
            ]
            if increments:
                histogram = self.keys.metrics_histogram(job_class, minute_of(now))
                # Sidekiq's Histogram#persist: saturating u16 counters, one per bucket
                queued: Any = pipe  # redis-py leaves execute_command untyped
                queued.execute_command("BITFIELD", histogram, "OVERFLOW", "SAT", *increments)
                pipe.expire(histogram, METRICS_TTL)
        pipe.expire(key, METRICS_TTL)

    @_translated
    def add_metrics(self, metrics: Mapping[str, JobCounts], now: float) -> None:
        if metrics:
            pipe = self._redis.pipeline(transaction=True)
            self._queue_metrics(pipe, metrics, now)
            pipe.execute()

    @_translated
    def job_metrics(self, now: float, minutes: int) -> dict[int, dict[str, JobCounts]]:
        last = minute_of(now)
        wanted = [last - 60 * offset for offset in range(minutes - 1, -1, -1)]
        pipe = self._redis.pipeline(transaction=False)
        for minute in wanted:
            pipe.hgetall(self.keys.metrics_minute(minute))
        out: dict[int, dict[str, JobCounts]] = {}
        for minute, fields in zip(wanted, pipe.execute(), strict=True):
            by_class: dict[str, JobCounts] = {}
            for field_name, value in fields.items():
                job_class, _, kind = field_name.rpartition("|")
                counts = by_class.setdefault(job_class, JobCounts())
                amount = int(value or 0)
                if kind == "p":
                    counts.executions = amount
                elif kind == "f":
                    counts.failures = amount
                elif kind == "ms":
                    counts.ms = float(amount)
            if by_class:
                out[minute] = by_class
        return out

    @_translated
    def job_histogram(self, job_class: str, now: float, minutes: int) -> dict[int, list[int]]:
        last = minute_of(now)
        wanted = [last - 60 * offset for offset in range(minutes - 1, -1, -1)]
        reads = [part for index in range(HISTOGRAM_BUCKETS) for part in ("GET", "u16", f"#{index}")]
        pipe = self._redis.pipeline(transaction=False)
        for minute in wanted:
            pipe.execute_command("BITFIELD_RO", self.keys.metrics_histogram(job_class, minute), *reads)
        return {
            minute: [int(n) for n in counts]
            for minute, counts in zip(wanted, pipe.execute(), strict=True)
            if any(counts)
        }

    # ---- operator methods ------------------------------------------------------------------------
    @_translated
    def set_scan(
        self, name: str, substring: str | Sequence[str], limit: int = 1000, *, also: str | Sequence[str] = ""
    ) -> list[tuple[float, str]]:
        # Read newest first, SCAN_CHUNK entries per ZREVRANGE, and match here. Sidekiq's filter box
        # (ZSCAN MATCH *text*) makes Redis glob-match every member from each of its positions: about
        # 2.5 us per 600-byte entry, 250 ms of Redis's one thread for 100,000 entries, whatever the
        # COUNT. Matching in Lua is no better: ZRANGE inside a script costs Redis ~0.7 us per entry
        # (the reply becomes Lua strings), more than this whole search (docs/benchmarks.md).
        # ZREVRANGE costs Redis ~0.13 us a 350-byte entry and Python's `in` is a fast substring search.
        # Reading newest first also makes the limit the newest.
        texts, required = search_texts(substring), [text for text in search_texts(also) if text]
        key = self.keys.sorted_set(name)
        found: list[str] = []
        with contextlib.closing(self._chunks_newest_first(key)) as chunks:
            for chunk in chunks:
                found += _matching(chunk, texts, required)
                if len(found) >= limit:
                    break
        # an entry added meanwhile shifts the ranks: one may come twice
        found = list(dict.fromkeys(found))[: max(limit, 0)]
        if not found:
            return []
        # members only: redis-py's pairing and float() of every score took three times as long as
        # the matching, so only the matches' scores are read
        pipe = self._redis.pipeline(transaction=False)
        for member in found:
            pipe.zscore(key, member)
        scores = pipe.execute()
        return sorted(
            (float(score), member)
            for member, score in zip(found, scores, strict=True)
            if score is not None  # not removed since its chunk was read
        )

    def _chunks_newest_first(self, key: str) -> Generator[list[str], None, None]:
        """The set's members, highest score first, SCAN_CHUNK at a time, with the next chunk's
        ZREVRANGE sent before this one is handed out: Redis writes it while the caller matches."""
        pool = self._redis.connection_pool
        try:
            connection = pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants a command name (and ignores it)
            connection = pool.get_connection("ZREVRANGE")
        pending = 0  # replies sent for and not read yet
        try:
            start = 0
            connection.send_command("ZREVRANGE", key, start, start + SCAN_CHUNK - 1)
            pending = 1
            while True:
                chunk = connection.read_response()
                pending -= 1
                more = len(chunk) == SCAN_CHUNK
                if more:
                    start += SCAN_CHUNK
                    connection.send_command("ZREVRANGE", key, start, start + SCAN_CHUNK - 1)
                    pending += 1
                yield chunk
                if not more:
                    return
        finally:
            if pending:  # the caller stopped early, or a read failed: the reply stream is unknown
                connection.disconnect()
            pool.release(connection)

    @_translated
    def pause_queue(self, queue: str) -> None:
        self._redis.sadd(self.keys.paused, queue)

    @_translated
    def resume_queue(self, queue: str) -> None:
        self._redis.srem(self.keys.paused, queue)

    @_translated
    def paused_queues(self) -> list[str]:
        return sorted(self._redis.smembers(self.keys.paused))

    @_translated
    def set_enqueue(self, name: str, entries: Sequence[tuple[str, str]], now: float) -> int:
        if not entries:
            return 0
        keys = [self.keys.sorted_set(name), self.keys.queues]
        args: list[str] = []
        for stored, replacement in entries:
            queue = queue_of(replacement, "default")
            keys.append(self.keys.queue(queue))
            args += [stored, stamp_enqueued_at(replacement, now), queue]
        return int(run(self._held, self._scripts.enqueue_from_set, keys, args))

    @_translated
    def set_kill(self, name: str, payloads: Sequence[str], now: float, max_jobs: int, max_age: float) -> int:
        if not payloads:
            return 0
        keys = [self.keys.sorted_set(name), self.keys.dead]
        trim = -max_jobs if max_jobs > 0 else -1
        args = [repr(float(now)), repr(float(now) - max_age), str(trim), *payloads]
        return int(run(self._held, self._scripts.kill_from_set, keys, args))

    @_translated
    def held_by_dead(self, limit: int = 100) -> tuple[int, list[tuple[str, Work]]]:
        identities = sorted(self._redis.smembers(self.keys.in_progress_registry))
        if not identities:
            return 0, []
        pipe = self._redis.pipeline(transaction=False)
        for identity in identities:
            pipe.exists(self.keys.process(identity))
            pipe.smembers(self.keys.in_progress_queues(identity))
        replies = pipe.execute()
        lists = [
            (identity, name)
            for i, identity in enumerate(identities)
            if not replies[2 * i]
            for name in sorted(replies[2 * i + 1])
        ]
        if not lists:
            return 0, []
        pipe = self._redis.pipeline(transaction=False)
        for identity, name in lists:
            pipe.llen(self.keys.in_progress(identity, name))
        sizes = [int(size) for size in pipe.execute()]
        held: list[tuple[str, Work]] = []
        pipe = self._redis.pipeline(transaction=False)
        wanted = limit
        reads: list[tuple[str, str]] = []
        for (identity, name), size in zip(lists, sizes, strict=True):
            if wanted <= 0:
                break
            if size:
                # the oldest (first fetched) are at the tail
                pipe.lrange(self.keys.in_progress(identity, name), -min(size, wanted), -1)
                reads.append((identity, name))
                wanted -= min(size, wanted)
        if reads:
            for (identity, name), jobs in zip(reads, pipe.execute(), strict=True):
                held += [(identity, Work(name, job)) for job in reversed(jobs)]
        return sum(sizes), held

    @_translated
    def info(self) -> dict[str, str]:
        server = self._redis.info()
        names = (
            "redis_version",
            "uptime_in_days",
            "connected_clients",
            "used_memory_human",
            "used_memory_peak_human",
        )
        out = {"store": "redis", "url": redact(self.url)}
        out.update({name: str(server.get(name, "")) for name in names})
        return out


def _matching(members: list[str], texts: tuple[str, ...], required: list[str]) -> list[str]:
    """The members holding every required text and any one of texts, in their order.

    Each pass is one list comprehension with one `in` per member (a generator or a second test per
    member costs more than the search itself): the first pass turns most members away, the next
    ones look at the few left.
    """
    if not texts:
        return []
    if len(texts) == 1:
        required = [texts[0], *required]
    for text in required:
        members = [member for member in members if text in member]
    if len(texts) == 1 or not members or "" in texts:
        return members
    held: set[str] = set()
    for text in texts:
        held.update([member for member in members if text in member])
    return [member for member in members if member in held] if held else []
