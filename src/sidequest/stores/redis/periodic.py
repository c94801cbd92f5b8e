"""Periodic schedules and unique-job locks on Redis (see base.Store for the contract).

Each operation whose steps depend on each other is one Lua script (lua/periodic_*.lua), so a tick's
claim and the LPUSH of its job happen in one atomic step: no other client sees the claim without
the job, and a crash cannot fall between them. Unique locks are ``SET key jid NX PX ttl`` and a
compare-and-delete script, as usual for Redis locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidequest._time import utc_day
from sidequest.stores.base import PeriodicState
from sidequest.stores.redis.connection import Connection, translated
from sidequest.stores.redis.held import HeldConnections
from sidequest.stores.redis.keys import STATS_TTL, Keys
from sidequest.stores.redis.scripts import Scripts
from sidequest.stores.redis.transport import run


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class PeriodicRedis:
    """Mixed into RedisStore, which provides keys, _connection and _redis."""

    keys: Keys
    _connection: Connection
    _redis: Any
    _scripts: Scripts
    _held: HeldConnections

    @translated
    def periodic_sync(self, definitions: Mapping[str, str], now: float) -> list[str]:
        args: list[str] = [self.keys.periodic_state_prefix, repr(float(now))]
        for name, definition in definitions.items():
            args += [name, definition]
        return [
            str(name) for name in run(self._held, self._scripts.periodic_sync, [self.keys.periodic], args)
        ]

    def _claim(
        self, name: str, mode: str, tick: float, queue: str, payload: str, jid: str, now: float
    ) -> bool:
        keys = [self.keys.periodic, self.keys.periodic_state(name), self.keys.queues, self.keys.queue(queue)]
        args = [name, mode, repr(float(tick)), queue, payload, jid, repr(float(now))]
        return bool(int(run(self._held, self._scripts.periodic_claim, keys, args)))

    @translated
    def periodic_claim(self, name: str, tick: float, queue: str, payload: str, jid: str, now: float) -> bool:
        return self._claim(name, "tick", tick, queue, payload, jid, now)

    @translated
    def periodic_enqueue_now(self, name: str, queue: str, payload: str, jid: str, now: float) -> bool:
        return self._claim(name, "now", now, queue, payload, jid, now)

    @translated
    def periodic_pause(self, name: str, paused: bool, now: float) -> bool:
        keys = [self.keys.periodic, self.keys.periodic_state(name)]
        args = [name, "1" if paused else "0", repr(float(now))]
        return bool(int(run(self._held, self._scripts.periodic_pause, keys, args)))

    @translated
    def periodic_states(self) -> list[PeriodicState]:
        definitions: dict[str, str] = self._redis.hgetall(self.keys.periodic)
        names = sorted(definitions)
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys.periodic_state(name))
        states = []
        for name, state in zip(names, pipe.execute(), strict=True):
            states.append(
                PeriodicState(
                    name,
                    definitions[name],
                    state.get("paused") == "1",
                    _float(state.get("last_tick")),
                    state.get("last_jid"),
                    _float(state.get("last_enqueued_at")),
                    state.get("last_outcome"),
                    _float(state.get("last_outcome_at")),
                )
            )
        return states

    @translated
    def periodic_outcome(self, name: str, jid: str, outcome: str, at: float) -> None:
        keys = [self.keys.periodic, self.keys.periodic_state(name)]
        run(self._held, self._scripts.periodic_outcome, keys, [name, jid, outcome, repr(float(at))])

    @translated
    def unique_lock(self, key: str, owner: str, ttl: float, now: float) -> bool:
        return bool(self._redis.set(self.keys.unique(key), owner, nx=True, px=max(1, int(ttl * 1000))))

    @translated
    def unique_unlock(self, key: str, owner: str) -> bool:
        return bool(int(run(self._held, self._scripts.unique_unlock, [self.keys.unique(key)], [owner])))

    @translated
    def unique_owner(self, key: str, now: float) -> str | None:
        owner: str | None = self._redis.get(self.keys.unique(key))
        return owner

    @translated
    def add_stat(self, name: str, amount: int, now: float) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.incrby(self.keys.stat(name), amount)
        pipe.incrby(self.keys.stat_day(name, utc_day(now)), amount)
        pipe.expire(self.keys.stat_day(name, utc_day(now)), STATS_TTL)
        pipe.execute()

    @translated
    def stat(self, name: str) -> int:
        return int(self._redis.get(self.keys.stat(name)) or 0)
