"""RedisStore's batches: a hash, two member sets, a failure hash and a dead set per batch, plus an index.

Every step that changes a batch is one Lua script (lua/batch_*.lua), so membership, counters and the
firing of callbacks move together (see stores/batches.py). The keys are ours, under ``sidequest:batch``:
Sidekiq Pro's ``b-<bid>`` keys have another layout, and a Pro process sharing the Redis must not read
ours as its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sidequest.stores.batches import (
    EVENTS,
    SUCCESS_OFFSET,
    BatchState,
    BatchStore,
    Outcome,
    Report,
    callbacks_by_event,
)
from sidequest.stores.redis.connection import Connection, translated
from sidequest.stores.redis.held import HeldConnections
from sidequest.stores.redis.keys import Keys
from sidequest.stores.redis.scripts import Scripts
from sidequest.stores.redis.transport import run

_translated = translated


class RedisBatches(BatchStore):
    """The batch part of RedisStore (mixed into it)."""

    keys: Keys
    _redis: Any
    _connection: Connection
    _scripts: Scripts
    _held: HeldConnections

    def _batch_keys(self, bid: str) -> list[str]:
        """hash, unrun, pending, failed, dead."""
        base = f"{self.keys.prefix}sidequest:batch:{bid}"
        return [base, f"{base}:unrun", f"{base}:pending", f"{base}:failed", f"{base}:dead"]

    def _early_keys(self, bid: str) -> list[str]:
        """Outcomes of members reported before they were added: done set, failed hash, dead set."""
        base = f"{self.keys.prefix}sidequest:batch:{bid}"
        return [f"{base}:early-done", f"{base}:early-failed", f"{base}:early-dead"]

    @property
    def _batch_index(self) -> str:
        return f"{self.keys.prefix}sidequest:batches"

    @_translated
    def batch_create(
        self,
        bid: str,
        meta: str,
        callbacks: Sequence[tuple[str, str]],
        now: float,
        ttl: float,
        success_ttl: float,
    ) -> bool:
        grouped = callbacks_by_event(callbacks)
        args: list[str | int] = [
            bid,
            meta,
            repr(float(now)),
            max(1, int(ttl * 1000)),
            repr(float(success_ttl)),
        ]
        args += [json.dumps(grouped[event]) for event in EVENTS]
        keys = [self._batch_keys(bid)[0], self._batch_index]
        return bool(run(self._held, self._scripts.batch_create, keys, args))

    @_translated
    def batch_add(self, bid: str, members: Sequence[str], *, counted: bool = True) -> int | None:
        hash_key = self._batch_keys(bid)[0]
        ttl = self._redis.pttl(hash_key)
        if ttl is None or ttl < 0:
            return None
        added = int(
            run(
                self._held,
                self._scripts.batch_add,
                [*self._batch_keys(bid), *self._early_keys(bid)],
                [int(ttl), "1" if counted else "0", *dict.fromkeys(members)],
            )
        )
        return None if added < 0 else added

    def batch_done(self, bid: str, member: str, outcome: Outcome, error: str, now: float) -> list[str]:
        return self.batch_done_many([Report(bid, member, outcome, error, now)])[0]

    @_translated
    def batch_done_many(self, reports: Sequence[Report]) -> list[list[str]]:
        """All reports in one script call: one round trip and one atomic step."""
        if not reports:
            return []
        # one "now" for the step: events fired by it are stamped with the time it ran
        now = max(report.now for report in reports)
        args: list[str] = [
            f"{self.keys.prefix}sidequest:batch:",
            repr(float(now)),
            repr(float(now) + SUCCESS_OFFSET),
        ]
        for bid, member, outcome, error, _ in reports:
            args += (bid, member, outcome, error)
        results = run(self._held, self._scripts.batch_done, [self.keys.sorted_set("schedule")], args)
        return [[str(event) for event in fired] for fired in results]

    @_translated
    def batch_state(self, bid: str, failed_limit: int = 100) -> BatchState | None:
        hash_key, unrun, pending, failed, dead = self._batch_keys(bid)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hgetall(hash_key)
        pipe.scard(pending)
        pipe.scard(unrun)
        pipe.hlen(failed)
        pipe.scard(dead)
        pipe.pttl(hash_key)
        fields, pending_count, unrun_count, failures, dead_count, pttl = pipe.execute()
        if not fields:
            return None
        errors: dict[str, str] = {}
        if failures:
            cursor = 0
            while len(errors) < failed_limit:
                cursor, found = self._redis.hscan(failed, cursor, count=max(failed_limit, 10))
                errors.update(found)
                if cursor == 0:
                    break
        return BatchState(
            bid=bid,
            meta=fields.get("meta", "{}"),
            created_at=float(fields.get("created_at", 0)),
            total=int(fields.get("total", 0)),
            pending=int(pending_count),
            unrun=int(unrun_count),
            failures=int(failures),
            dead=int(dead_count),
            failed=dict(sorted(errors.items())[:failed_limit]),
            fired={event: float(fields[f"fired:{event}"]) for event in EVENTS if f"fired:{event}" in fields},
            expires_at=time.time() + max(0, int(pttl)) / 1000,
        )

    @_translated
    def batch_members(self, bid: str, limit: int = 100) -> list[str]:
        members: set[str] = set()
        cursor = 0
        pending = self._batch_keys(bid)[2]
        while True:
            cursor, found = self._redis.sscan(pending, cursor, count=max(limit, 100))
            members.update(found)
            if cursor == 0:
                break
        return sorted(members)[:limit]

    @_translated
    def batch_ids(self, limit: int = 100) -> list[str]:
        bids = list(self._redis.zrevrange(self._batch_index, 0, max(0, limit * 2 - 1)))
        if not bids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for bid in bids:
            pipe.exists(self._batch_keys(bid)[0])
        alive = pipe.execute()
        gone = [bid for bid, exists in zip(bids, alive, strict=True) if not exists]
        if gone:
            self._redis.zrem(self._batch_index, *gone)
        return [bid for bid, exists in zip(bids, alive, strict=True) if exists][:limit]
