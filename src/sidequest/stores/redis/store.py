"""The Redis store: Sidekiq's keyspace, plus reliable fetch through per-process in-progress lists.

Everything a Ruby Sidekiq process or the Sidekiq Web UI reads is written the way Sidekiq writes it
(key names in keys.py, values as strings in Sidekiq's formats), so both sides share one Redis. Each
operation is one round trip where it can be: a Lua script when the steps depend on each other, a
MULTI when they must land together, a plain pipeline when order is enough. Needs Redis >= 6.2
(LMOVE, RPOP with a count, ZRANGE BYSCORE), like Sidekiq 7.

The hot paths (push, fetch, ack) and every Lua script run on a connection each thread holds
(transport.py, held.py); everything else is plain redis-py. Processes and counters live in
processes.py, the operator methods in operators.py, periodic schedules and locks in periodic.py.

Every public method reports failures through connection.Connection.failure: StoreUnavailable for an
outage, StoreError for a refusal, never a redis-py exception.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from sidequest.errors import ConfigError
from sidequest.stores.base import (
    INVALID_PAYLOAD_TEMPLATE,
    MAX_RECOVERIES,
    RECOVERY_COUNT_TTL,
    FetchUnderWay,
    Recovered,
    Store,
    Work,
)
from sidequest.stores.redis.batches import RedisBatches
from sidequest.stores.redis.connection import MAX_BLOCK, Connection, translated
from sidequest.stores.redis.held import HeldConnections
from sidequest.stores.redis.keys import Keys
from sidequest.stores.redis.operators import Operators
from sidequest.stores.redis.periodic import PeriodicRedis
from sidequest.stores.redis.processes import ProcessesRedis
from sidequest.stores.redis.scripts import Scripts
from sidequest.stores.redis.transport import Sent, run_each
from sidequest.stores.redis.transport import commands as send_commands
from sidequest.stores.redis.transport import run as run_script


def _taken(flat: Sequence[str]) -> list[Work]:
    """Works from the fetch script's flat {queue, payload, ...} reply."""
    return [Work(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


class RedisStore(RedisBatches, ProcessesRedis, Operators, PeriodicRedis, Store):
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
    @translated
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

    @translated
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

    def fetch_begin(self, identity: str, queues: Sequence[str], limit: int) -> FetchUnderWay:
        names = list(dict.fromkeys(queues))
        if limit <= 0 or not names or not Sent.possible(self._blocking_held):
            return super().fetch_begin(identity, names, limit)
        keys, args = self._fetch_arguments(identity, names, limit, register_all=False)
        try:
            sent = Sent(self._blocking_held, ("EVALSHA", self._scripts.fetch.sha, len(keys), *keys, *args))
        except redis.RedisError as exc:
            raise self._connection.failure(exc, "fetch") from None
        return _FetchReply(self, identity, names, limit, sent)

    @translated
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

    @translated
    def requeue(self, identity: str, works: Sequence[Work]) -> None:
        if not works:
            return
        keys = [self.keys.queues]
        args: list[str] = []
        for work in works:
            keys += [self.keys.in_progress(identity, work.queue), self.keys.queue(work.queue)]
            args += [work.queue, work.payload]
        run_script(self._held, self._scripts.requeue, keys, args)

    @translated
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

    @translated
    def recover(self, max_recoveries: int = MAX_RECOVERIES) -> list[Recovered]:
        identities = sorted(self._redis.smembers(self.keys.in_progress_registry))
        if not identities:
            return []
        # one script per identity keeps each check-and-move atomic; one write keeps it one round trip
        now = repr(time.time())
        calls: list[tuple[list[str], list[str | int]]] = []
        for identity in identities:
            keys = [
                self.keys.in_progress_registry,
                self.keys.process(identity),
                self.keys.in_progress_queues(identity),
                self.keys.queues,
                self.keys.dead,
            ]
            args: list[str | int] = [
                identity,
                self.keys.in_progress_prefix(identity),
                self.keys.queue_prefix,
                max_recoveries,
                self.keys.recoveries_prefix,
                now,
                RECOVERY_COUNT_TTL,
                INVALID_PAYLOAD_TEMPLATE,
            ]
            calls.append((keys, args))
        return [
            Recovered(identity, Work(flat[i], flat[i + 1]), int(flat[i + 2]), bool(int(flat[i + 3])))
            for identity, flat in zip(
                identities, run_each(self._held, self._scripts.recover, calls), strict=True
            )
            for i in range(0, len(flat), 4)
        ]

    @translated
    def queue_names(self) -> list[str]:
        return sorted(self._redis.smembers(self.keys.queues))

    @translated
    def queue_size(self, queue: str) -> int:
        return int(self._redis.llen(self.keys.queue(queue)))

    @translated
    def queue_range(self, queue: str, start: int, stop: int) -> list[str]:
        return list(self._redis.lrange(self.keys.queue(queue), start, stop))

    @translated
    def queue_oldest(self, queue: str) -> str | None:
        oldest: str | None = self._redis.lindex(self.keys.queue(queue), -1)
        return oldest

    @translated
    def queue_remove(self, queue: str, payload: str) -> int:
        return int(self._redis.lrem(self.keys.queue(queue), 1, payload))

    @translated
    def queue_clear(self, queue: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.unlink(self.keys.queue(queue))
        pipe.srem(self.keys.queues, queue)
        pipe.execute()

    # ---- sorted sets -----------------------------------------------------------------------------
    @translated
    def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None:
        if items:
            self._redis.zadd(self.keys.sorted_set(name), {payload: float(score) for score, payload in items})

    @translated
    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        if limit <= 0:
            return 0
        keys = [self.keys.sorted_set(name), self.keys.queues, self.keys.dead]
        # repr() is the text payload.stamp_enqueued_at writes, so both stores produce the same bytes
        args = [repr(float(now)), limit, self.keys.queue_prefix, INVALID_PAYLOAD_TEMPLATE]
        return int(run_script(self._held, self._scripts.promote, keys, args))

    @translated
    def next_due(self, names: Sequence[str]) -> float | None:
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.zrange(self.keys.sorted_set(name), 0, 0, withscores=True)
        firsts = [entries[0][1] for entries in pipe.execute() if entries]
        return float(min(firsts)) if firsts else None

    @translated
    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        # Sidekiq's DeadSet#kill: add, drop the too old, then trim by rank (at most max_jobs - 1 stay)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(self.keys.dead, {payload: float(now)})
        pipe.zremrangebyscore(self.keys.dead, "-inf", repr(float(now) - max_age))
        pipe.zremrangebyrank(self.keys.dead, 0, -max_jobs if max_jobs > 0 else -1)
        pipe.execute()

    @translated
    def set_size(self, name: str) -> int:
        return int(self._redis.zcard(self.keys.sorted_set(name)))

    @translated
    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        entries = self._redis.zrange(self.keys.sorted_set(name), start, stop, desc=reverse, withscores=True)
        return [(float(score), member) for member, score in entries]

    @translated
    def set_by_score(self, name: str, score: float) -> list[str]:
        return list(self._redis.zrange(self.keys.sorted_set(name), float(score), float(score), byscore=True))

    @translated
    def set_remove(self, name: str, payloads: Sequence[str]) -> int:
        if not payloads:
            return 0
        return int(self._redis.zrem(self.keys.sorted_set(name), *payloads))

    @translated
    def set_clear(self, name: str) -> None:
        self._redis.unlink(self.keys.sorted_set(name))

    # ---- lifecycle -------------------------------------------------------------------------------
    @translated
    def put_record(self, key: str, value: str, ttl: float) -> None:
        self._redis.set(self.keys.record(key), value, px=max(1, int(ttl * 1000)))

    @translated
    def get_record(self, key: str) -> str | None:
        value = self._redis.get(self.keys.record(key))
        return None if value is None else str(value)

    @translated
    def ping(self) -> float:
        started = time.perf_counter()
        self._redis.ping()
        return time.perf_counter() - started

    def close(self) -> None:
        self._connection.close()


class _FetchReply(FetchUnderWay):
    """A fetch script sent by RedisStore.fetch_begin, its reply still on the way."""

    def __init__(self, store: RedisStore, identity: str, names: list[str], limit: int, sent: Sent) -> None:
        super().__init__([])
        self._store, self._identity, self._sent = store, identity, sent
        self._names, self._limit = names, limit

    def arrived(self) -> bool:
        return self._sent.arrived()

    def result(self) -> list[Work]:
        store = self._store
        try:
            (reply,) = self._sent.replies()
            if isinstance(reply, NoScriptError):  # it did not run (a restarted server): load it, run it
                return store._fetch_now(self._identity, self._names, self._limit, register_all=False)[0]
            if isinstance(reply, Exception):
                raise reply
        except redis.RedisError as exc:
            raise store._connection.failure(exc, "fetch") from None
        return _taken(reply[0])
