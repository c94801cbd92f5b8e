"""Processes and counters on Redis (mixed into RedisStore): the heartbeat's one MULTI, the process
hash ``<identity>`` both ways (written as Sidekiq's heartbeat writes it, read from any Sidekiq version
6.4 to 8.x or from us), running jobs, signals and the processed/failed counters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import redis

from sidequest._time import utc_day
from sidequest.stores.base import Beat, BeatResult, Counters, JobCounts, ProcessRecord
from sidequest.stores.redis.connection import Connection, translated
from sidequest.stores.redis.keys import CLEANUP_INTERVAL, SIGNAL_TTL, STATS_TTL, Keys

#: Fields read back; ``concurrency`` exists only when written by Sidekiq 8.1.2+ (or our "8" mode).
FIELDS = ("info", "busy", "beat", "rtt_us", "quiet", "rss", "concurrency")


def fields_of(beat: Beat, sidekiq_version: str) -> dict[str, str]:
    """Hash values as Sidekiq writes them: strings, beat as float seconds, quiet as "true"/"false", rss in KB."""
    fields = {
        "info": beat.info,
        "busy": str(beat.busy),
        "beat": repr(float(beat.beat)),
        "rtt_us": str(beat.rtt_us),
        "quiet": "true" if beat.quiet else "false",
        "rss": str(beat.rss_kb),
    }
    if sidekiq_version == "8":
        # 8.1.2+ readers take the thread count from here and show 0 when it is missing
        fields["concurrency"] = str(beat.concurrency)
    return fields


def record_of(identity: str, values: list[str | None]) -> ProcessRecord | None:
    """A process as the API shows it, from HMGET of FIELDS; None when the hash has no info (gone)."""
    row = dict(zip(FIELDS, values, strict=True))
    if row["info"] is None:
        return None
    # Sidekiq's strings; Sidekiq before 8.1.2 keeps concurrency only inside info
    record = ProcessRecord.read(
        identity,
        row["info"],
        _int(row["busy"]),
        _float(row["beat"]),
        row["quiet"] == "true",
        _int(row["rss"]),
        _int(row["rtt_us"]),
        _int(row["concurrency"]),
    )
    if row["concurrency"] is None:
        record.concurrency = _int(record.info.get("concurrency"))
    return record


def _int(value: object) -> int:
    """Integers from hash strings written by any Sidekiq version; anything unreadable counts as 0."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _float(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


class ProcessesRedis:
    """Mixed into RedisStore, which provides keys, sidekiq_version, _connection and _redis."""

    keys: Keys
    sidekiq_version: str
    _connection: Connection
    _redis: Any

    if TYPE_CHECKING:  # provided by operators.Operators, beside this in RedisStore

        def _queue_metrics(
            self, pipe: redis.client.Pipeline, metrics: Mapping[str, JobCounts], now: float
        ) -> None: ...

    # ---- processes -------------------------------------------------------------------------------
    @translated
    def beat(self, beat: Beat) -> BeatResult:
        identity, keys = beat.identity, self.keys
        ttl_ms = max(1, int(beat.ttl * 1000))
        # one MULTI like Sidekiq 6's heartbeat: counters, running jobs and the record land together
        pipe = self._redis.pipeline(transaction=True)
        self._queue_counts(pipe, beat.processed, beat.failed, beat.beat)
        self._queue_metrics(pipe, beat.metrics, beat.beat)
        for work_key in keys.work_keys(identity):
            pipe.unlink(work_key)
            if beat.work:
                pipe.hset(work_key, mapping=beat.work)
                pipe.pexpire(work_key, ttl_ms)
        pipe.sadd(keys.processes, identity)
        pipe.exists(keys.process(identity))
        fields = fields_of(beat, self.sidekiq_version)
        pipe.hset(keys.process(identity), mapping=fields)
        pipe.pexpire(keys.process(identity), ttl_ms)
        pipe.rpop(keys.signals(identity))
        replies = pipe.execute()
        existed, signal = replies[-4], replies[-1]
        return BeatResult(bool(existed), [signal] if signal is not None else [])

    @translated
    def remove_process(self, identity: str) -> None:
        # Sidekiq's clean stop: leave the registry and drop running jobs; the record expires by TTL
        pipe = self._redis.pipeline(transaction=True)
        pipe.srem(self.keys.processes, identity)
        pipe.unlink(*self.keys.work_keys(identity))
        pipe.execute()

    @translated
    def processes(self) -> list[ProcessRecord]:
        identities = sorted(self._redis.smembers(self.keys.processes))
        if not identities:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hmget(self.keys.process(identity), list(FIELDS))
        records: list[ProcessRecord] = []
        gone: list[str] = []
        for identity, values in zip(identities, pipe.execute(), strict=True):
            record = record_of(identity, values)
            if record is None:
                gone.append(identity)
            else:
                records.append(record)
        # Sidekiq's ProcessSet cleanup: prune entries without a record, at most once a minute overall
        if gone and self._redis.set(self.keys.process_cleanup, "1", nx=True, ex=CLEANUP_INTERVAL):
            self._redis.srem(self.keys.processes, *gone)
        return records

    @translated
    def work(self) -> list[tuple[str, str, str]]:
        identities = sorted(self._redis.smembers(self.keys.processes))
        if not identities:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for identity in identities:
            pipe.exists(self.keys.process(identity))
            for key in self.keys.work_read_keys(identity):
                pipe.hgetall(key)
        replies = iter(pipe.execute())
        running: list[tuple[str, str, str]] = []
        for identity in identities:
            alive = next(replies)
            jobs: dict[str, str] = {}
            for _ in self.keys.work_read_keys(identity):
                jobs.update(next(replies))
            if alive:
                running += [(identity, tid, work) for tid, work in jobs.items()]
        return running

    @translated
    def signal(self, identity: str, signal: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(self.keys.signals(identity), signal)
        pipe.expire(self.keys.signals(identity), SIGNAL_TTL)
        pipe.execute()

    # ---- counters --------------------------------------------------------------------------------
    def _queue_counts(self, pipe: redis.client.Pipeline, processed: int, failed: int, now: float) -> None:
        day = utc_day(now)
        for kind, amount in (("processed", processed), ("failed", failed)):
            if amount:
                pipe.incrby(self.keys.stat(kind), amount)
                pipe.incrby(self.keys.stat_day(kind, day), amount)
                pipe.expire(self.keys.stat_day(kind, day), STATS_TTL)

    @translated
    def add_counts(self, processed: int, failed: int, now: float) -> None:
        if processed or failed:
            pipe = self._redis.pipeline(transaction=True)
            self._queue_counts(pipe, processed, failed, now)
            pipe.execute()

    @translated
    def counters(self) -> Counters:
        processed, failed = self._redis.mget([self.keys.stat("processed"), self.keys.stat("failed")])
        return Counters(int(processed or 0), int(failed or 0))

    @translated
    def history(self, days: int, now: float) -> dict[str, tuple[int, int]]:
        dates = [utc_day(now - offset * 86400) for offset in range(days)]
        if not dates:
            return {}
        keys = [self.keys.stat_day("processed", d) for d in dates] + [
            self.keys.stat_day("failed", d) for d in dates
        ]
        values = [int(value or 0) for value in self._redis.mget(keys)]
        return {day: (values[i], values[len(dates) + i]) for i, day in enumerate(dates)}

    @translated
    def reset_counters(self) -> None:
        # Sidekiq's Stats#reset writes zeros rather than deleting
        self._redis.mset({self.keys.stat("processed"): 0, self.keys.stat("failed"): 0})
