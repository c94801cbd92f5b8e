"""The Redis store: Sidekiq's keyspace, plus reliable fetch through per-process in-progress lists.

Everything a Ruby Sidekiq process or the Sidekiq Web UI reads is written the way Sidekiq writes it
(key names in keys.py, values as strings in Sidekiq's formats), so both sides share one Redis. Each
operation is one round trip where it can be: a Lua script when the steps depend on each other, a
MULTI when they must land together, a plain pipeline when order is enough. Needs Redis >= 6.2
(LMOVE, RPOP with a count, ZRANGE BYSCORE), like Sidekiq 7.

Every public method reports failures through connection.Connection.failure: StoreUnavailable for an
outage, StoreError for a refusal, never a redis-py exception.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis

from sidequest._time import utc_day
from sidequest.errors import ConfigError
from sidequest.stores.base import (
    MAX_RECOVERIES,
    RECOVERY_COUNT_TTL,
    Beat,
    BeatResult,
    Counters,
    ProcessRecord,
    Recovered,
    Store,
    Work,
)
from sidequest.stores.redis import processes as process_hash
from sidequest.stores.redis.batches import RedisBatches
from sidequest.stores.redis.connection import MAX_BLOCK, Connection
from sidequest.stores.redis.held import HeldConnections
from sidequest.stores.redis.keys import CLEANUP_INTERVAL, SIGNAL_TTL, STATS_TTL, Keys
from sidequest.stores.redis.operators import Operators
from sidequest.stores.redis.periodic import PeriodicRedis
from sidequest.stores.redis.scripts import Scripts
from sidequest.stores.redis.scripts import commands as send_commands
from sidequest.stores.redis.scripts import run as run_script

P = ParamSpec("P")


def _taken(flat: Sequence[str]) -> list[Work]:
    """Works from the fetch script's flat {queue, payload, ...} reply."""
    return [Work(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


R = TypeVar("R")


def _translate_errors(
    method: Callable[Concatenate[RedisStore, P], R],
) -> Callable[Concatenate[RedisStore, P], R]:
    """Turn redis-py failures into our error tree, so callers handle one kind of outage."""

    @functools.wraps(method)
    def wrapper(self: RedisStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            raise self._connection.failure(exc, method.__name__) from None

    return wrapper


class RedisStore(RedisBatches, Operators, PeriodicRedis, Store):
    """A Store on one Redis database, shareable by every thread of a process (redis-py pools connections).

    sidekiq_version ("6", "7" or "8") picks the wire details peers expect: "6" also writes the
    running-jobs hash as ``<identity>:workers``, "8" adds the ``concurrency`` field to the process hash.
    namespace prefixes every key (Sidekiq 6's redis-namespace); leave it empty to share with Sidekiq 7+.
    Other keyword options go to redis-py's ConnectionPool (socket_timeout, max_connections, ...).
    """

    def __init__(
        self, url: str, namespace: str = "", sidekiq_version: str = "7", **pool_options: Any
    ) -> None:
        if sidekiq_version not in ("6", "7", "8"):
            raise ConfigError(f"sidekiq_version must be 6, 7 or 8, got {sidekiq_version!r}")
        self.url = url
        self.sidekiq_version = sidekiq_version
        self.keys = Keys(namespace, sidekiq_version)
        self._connection = Connection(url, pool_options)
        self._scripts = Scripts(self._connection.client)
        # Typed Any on purpose: redis-py annotates every reply as bytes | str, but with
        # decode_responses=True they are str; each use below converts to the exact type it returns.
        self._redis: Any = self._connection.client
        self._blocking_redis: Any = self._connection.blocking_client
        # the hot paths (push, fetch, ack) run on a connection each thread holds; see held.py
        self._held = HeldConnections(self._redis)
        # fetches are never resent, so a connection a restart closed is replaced before sending
        self._blocking_held = HeldConnections(self._blocking_redis, drop_stale=True)

    # ---- queues --------------------------------------------------------------------------------
    @_translate_errors
    def push(self, items: Sequence[tuple[str, str]]) -> None:
        if not items:
            return
        # Sidekiq's push: SADD queues + LPUSH per queue, pipelined (no MULTI) in one write. Consecutive
        # jobs for the same queue form one LPUSH; order across the batch is kept.
        batch: list[tuple[str, ...]] = []
        run: list[str] = []
        for index, (queue, payload) in enumerate(items):
            run.append(payload)
            if index + 1 == len(items) or items[index + 1][0] != queue:
                batch.append(("SADD", self.keys.queues, queue))
                batch.append(("LPUSH", self.keys.queue(queue), *run))
                run = []
        # the caller waits on this round trip (a web request, say): poll for the reply before sleeping
        for reply in send_commands(self._held, *batch, retry=True, spin=True):
            if isinstance(reply, Exception):
                raise reply

    def schedule(self, items: Sequence[tuple[float, str]]) -> None:
        self.add_to_set("schedule", items)

    @_translate_errors
    def fetch(self, identity: str, queues: Sequence[str], limit: int, timeout: float = 0.0) -> list[Work]:
        names = list(dict.fromkeys(queues))
        if limit <= 0 or not names:
            if timeout > 0:
                time.sleep(timeout)  # nothing to wait on; don't let a worker loop spin
            return []
        # when about to block, register every queue first: a job BLMOVEd below is then never unregistered
        taken, paused = self._fetch_now(identity, names, limit, register_all=timeout > 0)
        if taken or timeout <= 0:
            return taken
        deadline = time.monotonic() + timeout
        # paused queues are not waited on; a resume is seen by the next fetch call (within timeout)
        waiting = [name for name in names if name not in paused]
        if not waiting:
            time.sleep(timeout)
            return []
        # BLMOVE watches one list, so several queues take turns with short waits, keeping their order
        turn = min(timeout, MAX_BLOCK) if len(waiting) == 1 else max(0.01, min(timeout, 0.2) / len(waiting))
        while True:
            for name in waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                taken, paused = self._wait_and_fetch(
                    identity, names, name, limit, max(0.01, min(turn, remaining))
                )
                if taken:
                    return taken
                if name in paused:  # paused while we waited: stop waiting on it
                    waiting.remove(name)
                    if not waiting:
                        time.sleep(max(0.0, deadline - time.monotonic()))
                        return []
                    break

    def _wait_and_fetch(
        self, identity: str, names: Sequence[str], name: str, limit: int, wait: float
    ) -> tuple[list[Work], set[str]]:
        """BLMOVE one job from name, then the fetch script for up to limit - 1 more, in one round trip.

        Redis runs the pipelined script as soon as the BLMOVE returns, so a woken fetch costs no
        extra round trip (the latency of an idle worker). The script also registers every queue
        again: a recovery that ran while we waited may have dropped the registration (our heartbeat
        lapsed), and the job must stay findable. BLMOVE cannot check the paused set, so a job it
        took from a queue paused while we waited goes straight back to the front of its queue.
        """
        keys, args = self._fetch_arguments(identity, names, limit - 1, register_all=True)
        # a wait of 0 would mean "forever" to Redis; the caller passes at least 10 ms
        job, reply = send_commands(
            self._blocking_held,
            ("BLMOVE", self.keys.queue(name), self.keys.in_progress(identity, name), "RIGHT", "LEFT", wait),
            ("EVALSHA", self._scripts.fetch.sha, len(keys), *keys, *args),
        )
        if isinstance(job, Exception):
            raise job
        taken = [] if job is None else [Work(name, job)]
        if isinstance(reply, Exception):  # NOSCRIPT after a server restart: run it the slow way
            more, paused = self._fetch_now(identity, names, limit - len(taken), register_all=True)
        else:
            more, paused = _taken(reply[0]), set(reply[1])
        if taken and name in paused:
            self.requeue(identity, taken)
            taken = []
        return taken + more, paused

    def _fetch_now(
        self, identity: str, names: Sequence[str], limit: int, *, register_all: bool
    ) -> tuple[list[Work], set[str]]:
        """Jobs taken by the fetch script, and which of names are paused."""
        keys, args = self._fetch_arguments(identity, names, limit, register_all=register_all)
        flat, paused = run_script(self._blocking_held, self._scripts.fetch, keys, args)
        return _taken(flat), set(paused)

    def _fetch_arguments(
        self, identity: str, names: Sequence[str], limit: int, *, register_all: bool
    ) -> tuple[list[str], list[str | int]]:
        keys = [self.keys.in_progress_registry, self.keys.in_progress_queues(identity), self.keys.paused]
        for name in names:
            keys += [self.keys.queue(name), self.keys.in_progress(identity, name)]
        return keys, [identity, limit, "1" if register_all else "0", *names]

    @_translate_errors
    def ack(self, identity: str, works: Sequence[Work]) -> int:
        self.flush_batch_reports()  # a job's batch report is stored before its acknowledgement
        if not works:
            return 0
        by_queue: dict[str, list[str]] = {}
        for work in works:
            payloads = by_queue.get(work.queue)
            if payloads is None:
                by_queue[work.queue] = payloads = []
            payloads.append(work.payload)
        keys = [self.keys.in_progress(identity, queue) for queue in by_queue]
        args: list[str | int] = [len(payloads) for payloads in by_queue.values()]
        for payloads in by_queue.values():
            args += payloads
        return int(run_script(self._held, self._scripts.ack, keys, args))

    @_translate_errors
    def requeue(self, identity: str, works: Sequence[Work]) -> None:
        if not works:
            return
        keys = [self.keys.queues]
        args: list[str] = []
        for work in works:
            keys += [self.keys.in_progress(identity, work.queue), self.keys.queue(work.queue)]
            args += [work.queue, work.payload]
        self._scripts.requeue(keys=keys, args=args)

    @_translate_errors
    def in_progress(self, identity: str) -> list[Work]:
        names = sorted(self._redis.smembers(self.keys.in_progress_queues(identity)))
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.lrange(self.keys.in_progress(identity, name), 0, -1)
        # lists hold the newest first; callers expect fetch order
        return [
            Work(name, job)
            for name, jobs in zip(names, pipe.execute(), strict=True)
            for job in reversed(jobs)
        ]

    @_translate_errors
    def recover(self, max_recoveries: int = MAX_RECOVERIES) -> list[Recovered]:
        identities = sorted(self._redis.smembers(self.keys.in_progress_registry))
        if not identities:
            return []
        # one script per identity keeps each check-and-move atomic; one pipeline keeps it one round trip
        pipe = self._redis.pipeline(transaction=False)
        now = repr(time.time())
        for identity in identities:
            keys = [
                self.keys.in_progress_registry,
                self.keys.process(identity),
                self.keys.in_progress_queues(identity),
                self.keys.queues,
                self.keys.dead,
            ]
            args = [
                identity,
                self.keys.in_progress_prefix(identity),
                self.keys.queue_prefix,
                max_recoveries,
                self.keys.recoveries_prefix,
                now,
                RECOVERY_COUNT_TTL,
            ]
            self._scripts.recover(keys=keys, args=args, client=pipe)
        return [
            Recovered(identity, Work(flat[i], flat[i + 1]), int(flat[i + 2]), bool(int(flat[i + 3])))
            for identity, flat in zip(identities, pipe.execute(), strict=True)
            for i in range(0, len(flat), 4)
        ]

    @_translate_errors
    def queue_names(self) -> list[str]:
        return sorted(self._redis.smembers(self.keys.queues))

    @_translate_errors
    def queue_size(self, queue: str) -> int:
        return int(self._redis.llen(self.keys.queue(queue)))

    @_translate_errors
    def queue_range(self, queue: str, start: int, stop: int) -> list[str]:
        return list(self._redis.lrange(self.keys.queue(queue), start, stop))

    @_translate_errors
    def queue_oldest(self, queue: str) -> str | None:
        oldest: str | None = self._redis.lindex(self.keys.queue(queue), -1)
        return oldest

    @_translate_errors
    def queue_remove(self, queue: str, payload: str) -> int:
        return int(self._redis.lrem(self.keys.queue(queue), 1, payload))

    @_translate_errors
    def queue_clear(self, queue: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.unlink(self.keys.queue(queue))
        pipe.srem(self.keys.queues, queue)
        pipe.execute()

    # ---- sorted sets -----------------------------------------------------------------------------
    @_translate_errors
    def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None:
        if items:
            self._redis.zadd(self.keys.sorted_set(name), {payload: float(score) for score, payload in items})

    @_translate_errors
    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        if limit <= 0:
            return 0
        keys = [self.keys.sorted_set(name), self.keys.queues, self.keys.dead]
        # repr() is the text payload.stamp_enqueued_at writes, so both stores produce the same bytes
        return int(self._scripts.promote(keys=keys, args=[repr(float(now)), limit, self.keys.queue_prefix]))

    @_translate_errors
    def next_due(self, names: Sequence[str]) -> float | None:
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.zrange(self.keys.sorted_set(name), 0, 0, withscores=True)
        firsts = [entries[0][1] for entries in pipe.execute() if entries]
        return float(min(firsts)) if firsts else None

    @_translate_errors
    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        # Sidekiq's DeadSet#kill: add, drop the too old, then trim by rank (at most max_jobs - 1 stay)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(self.keys.dead, {payload: float(now)})
        pipe.zremrangebyscore(self.keys.dead, "-inf", repr(float(now) - max_age))
        pipe.zremrangebyrank(self.keys.dead, 0, -max_jobs if max_jobs > 0 else -1)
        pipe.execute()

    @_translate_errors
    def set_size(self, name: str) -> int:
        return int(self._redis.zcard(self.keys.sorted_set(name)))

    @_translate_errors
    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        entries = self._redis.zrange(self.keys.sorted_set(name), start, stop, desc=reverse, withscores=True)
        return [(float(score), member) for member, score in entries]

    @_translate_errors
    def set_by_score(self, name: str, score: float) -> list[str]:
        return list(self._redis.zrange(self.keys.sorted_set(name), float(score), float(score), byscore=True))

    @_translate_errors
    def set_remove(self, name: str, payloads: Sequence[str]) -> int:
        if not payloads:
            return 0
        return int(self._redis.zrem(self.keys.sorted_set(name), *payloads))

    @_translate_errors
    def set_clear(self, name: str) -> None:
        self._redis.unlink(self.keys.sorted_set(name))

    # ---- processes -------------------------------------------------------------------------------
    @_translate_errors
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
        fields = process_hash.fields_of(beat, self.sidekiq_version)
        pipe.hset(keys.process(identity), mapping=fields)
        pipe.pexpire(keys.process(identity), ttl_ms)
        pipe.rpop(keys.signals(identity))
        replies = pipe.execute()
        existed, signal = replies[-4], replies[-1]
        return BeatResult(bool(existed), [signal] if signal is not None else [])

    @_translate_errors
    def remove_process(self, identity: str) -> None:
        # Sidekiq's clean stop: leave the registry and drop running jobs; the record expires by TTL
        pipe = self._redis.pipeline(transaction=True)
        pipe.srem(self.keys.processes, identity)
        pipe.unlink(*self.keys.work_keys(identity))
        pipe.execute()

    @_translate_errors
    def processes(self) -> list[ProcessRecord]:
        identities = sorted(self._redis.smembers(self.keys.processes))
        if not identities:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hmget(self.keys.process(identity), list(process_hash.FIELDS))
        records: list[ProcessRecord] = []
        gone: list[str] = []
        for identity, values in zip(identities, pipe.execute(), strict=True):
            record = process_hash.record_of(identity, values)
            if record is None:
                gone.append(identity)
            else:
                records.append(record)
        # Sidekiq's ProcessSet cleanup: prune entries without a record, at most once a minute overall
        if gone and self._redis.set(self.keys.process_cleanup, "1", nx=True, ex=CLEANUP_INTERVAL):
            self._redis.srem(self.keys.processes, *gone)
        return records

    @_translate_errors
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

    @_translate_errors
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

    @_translate_errors
    def add_counts(self, processed: int, failed: int, now: float) -> None:
        if processed or failed:
            pipe = self._redis.pipeline(transaction=True)
            self._queue_counts(pipe, processed, failed, now)
            pipe.execute()

    @_translate_errors
    def counters(self) -> Counters:
        processed, failed = self._redis.mget([self.keys.stat("processed"), self.keys.stat("failed")])
        return Counters(int(processed or 0), int(failed or 0))

    @_translate_errors
    def history(self, days: int, now: float) -> dict[str, tuple[int, int]]:
        dates = [utc_day(now - offset * 86400) for offset in range(days)]
        if not dates:
            return {}
        keys = [self.keys.stat_day("processed", d) for d in dates] + [
            self.keys.stat_day("failed", d) for d in dates
        ]
        values = [int(value or 0) for value in self._redis.mget(keys)]
        return {day: (values[i], values[len(dates) + i]) for i, day in enumerate(dates)}

    @_translate_errors
    def reset_counters(self) -> None:
        # Sidekiq's Stats#reset writes zeros rather than deleting
        self._redis.mset({self.keys.stat("processed"): 0, self.keys.stat("failed"): 0})

    # ---- lifecycle -------------------------------------------------------------------------------
    @_translate_errors
    def put_record(self, key: str, value: str, ttl: float) -> None:
        self._redis.set(self.keys.record(key), value, px=max(1, int(ttl * 1000)))

    @_translate_errors
    def get_record(self, key: str) -> str | None:
        value = self._redis.get(self.keys.record(key))
        return None if value is None else str(value)

    @_translate_errors
    def ping(self) -> float:
        started = time.perf_counter()
        self._redis.ping()
        return time.perf_counter() - started

    def close(self) -> None:
        self._connection.close()
