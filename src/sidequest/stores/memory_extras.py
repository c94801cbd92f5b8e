"""The memory store's periodic schedules and unique-job locks (see base.Store for the contract).

Kept apart from memory.py so each file stays one noun; it shares MemoryStore's lock, queues and the
condition that wakes fetchers, so every method here is atomic like the rest of the store.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from sidequest._time import utc_day
from sidequest.stores.base import PeriodicState


class PeriodicMemory:
    """Mixed into MemoryStore, which provides _lock, _queues and _known_queues."""

    _lock: threading.Condition
    _queues: dict[str, deque[str]]
    _known_queues: set[str]
    _counters: dict[str, int]

    def _periodic_table(self) -> dict[str, PeriodicState]:
        table: dict[str, PeriodicState] | None = getattr(self, "_periodic", None)
        if table is None:
            table = {}
            self._periodic = table
        return table

    def _unique_table(self) -> dict[str, tuple[str, float]]:
        table: dict[str, tuple[str, float]] | None = getattr(self, "_unique", None)
        if table is None:
            table = {}
            self._unique = table
        return table

    def _push_one(self, queue: str, payload: str) -> None:
        self._known_queues.add(queue)
        self._queues.setdefault(queue, deque()).appendleft(payload)
        self._lock.notify_all()

    def periodic_sync(self, definitions: Mapping[str, str], now: float) -> list[str]:
        with self._lock:
            table = self._periodic_table()
            removed = sorted(set(table) - set(definitions))
            for name in removed:
                del table[name]
            for name, definition in definitions.items():
                state = table.get(name)
                if state is None:
                    table[name] = PeriodicState(name, definition, False, now, None, None, None, None)
                else:
                    state.definition = definition
            return removed

    def periodic_claim(self, name: str, tick: float, queue: str, payload: str, jid: str, now: float) -> bool:
        with self._lock:
            state = self._periodic_table().get(name)
            if state is None or state.paused or (state.last_tick is not None and state.last_tick >= tick):
                return False
            state.last_tick, state.last_jid, state.last_enqueued_at = tick, jid, now
            state.last_outcome = state.last_outcome_at = None
            self._push_one(queue, payload)
            return True

    def periodic_enqueue_now(self, name: str, queue: str, payload: str, jid: str, now: float) -> bool:
        with self._lock:
            state = self._periodic_table().get(name)
            if state is None:
                return False
            state.last_jid, state.last_enqueued_at = jid, now
            state.last_outcome = state.last_outcome_at = None
            self._push_one(queue, payload)
            return True

    def periodic_pause(self, name: str, paused: bool, now: float) -> bool:
        with self._lock:
            state = self._periodic_table().get(name)
            if state is None:
                return False
            state.paused = paused
            if not paused:
                state.last_tick = max(state.last_tick or now, now)
            return True

    def periodic_states(self) -> list[PeriodicState]:
        with self._lock:
            table = self._periodic_table()
            return [replace(table[name]) for name in sorted(table)]

    def periodic_outcome(self, name: str, jid: str, outcome: str, at: float) -> None:
        with self._lock:
            state = self._periodic_table().get(name)
            if state is not None:
                state.last_outcome, state.last_outcome_at = outcome, at
                state.last_jid = state.last_jid or jid

    def unique_lock(self, key: str, owner: str, ttl: float, now: float) -> bool:
        with self._lock:
            locks = self._unique_table()
            held = locks.get(key)
            if held is not None and held[1] > now:
                return False
            locks[key] = (owner, now + ttl)
            return True

    def unique_unlock(self, key: str, owner: str) -> bool:
        with self._lock:
            locks = self._unique_table()
            held = locks.get(key)
            if held is None or held[0] != owner:
                return False
            del locks[key]
            return True

    def unique_owner(self, key: str, now: float) -> str | None:
        with self._lock:
            held = self._unique_table().get(key)
            return held[0] if held is not None and held[1] > now else None

    def add_stat(self, name: str, amount: int, now: float) -> None:
        with self._lock:
            for key in (f"stat:{name}", f"stat:{name}:{utc_day(now)}"):
                self._counters[key] = self._counters.get(key, 0) + amount

    def stat(self, name: str) -> int:
        with self._lock:
            return self._counters.get(f"stat:{name}", 0)
