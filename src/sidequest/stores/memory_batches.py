"""MemoryStore's batches: plain sets and dicts behind the store's one lock (see stores/batches.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sidequest.stores.batches import (
    EVENTS,
    SUCCESS_OFFSET,
    BatchState,
    BatchStore,
    Outcome,
    Report,
    callbacks_by_event,
)


@dataclass
class _Batch:
    meta: str
    created_at: float
    callbacks: dict[str, list[str]]
    success_ttl: float
    expires_at: float  # time.time() epoch
    total: int = 0
    unrun: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    fired: dict[str, float] = field(default_factory=dict)
    # reported before they were added (a push registers its jid after the push, in chunks)
    early_done: set[str] = field(default_factory=set)
    early_failed: dict[str, str] = field(default_factory=dict)
    early_dead: set[str] = field(default_factory=set)


def _early(batch: _Batch, member: str, outcome: Outcome, error: str) -> None:
    """Remember the outcome of a member not added yet, for batch_add to apply (see stores/batches.py)."""
    if outcome == "success":
        batch.early_done.add(member)
    elif outcome in ("failure", "death") and member not in batch.early_done:
        batch.early_failed[member] = error
        if outcome == "death":
            batch.early_dead.add(member)


class MemoryBatches(BatchStore):
    """The batch part of MemoryStore (mixed into it)."""

    _lock: threading.Condition

    if TYPE_CHECKING:

        def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None: ...

    @property
    def _batches(self) -> dict[str, _Batch]:
        batches: dict[str, _Batch] | None = self.__dict__.get("_batch_map")
        if batches is None:
            batches = self.__dict__["_batch_map"] = {}
        return batches

    def _live(self, bid: str) -> _Batch | None:
        batch = self._batches.get(bid)
        if batch is not None and batch.expires_at <= time.time():
            del self._batches[bid]
            return None
        return batch

    def batch_create(
        self,
        bid: str,
        meta: str,
        callbacks: Sequence[tuple[str, str]],
        now: float,
        ttl: float,
        success_ttl: float,
    ) -> bool:
        with self._lock:
            if self._live(bid) is not None:
                return False
            grouped = {event: list(payloads) for event, payloads in callbacks_by_event(callbacks).items()}
            self._batches[bid] = _Batch(meta, now, grouped, success_ttl, time.time() + ttl)
            return True

    def batch_add(self, bid: str, members: Sequence[str], *, counted: bool = True) -> int | None:
        with self._lock:
            batch = self._live(bid)
            if batch is None:
                return None
            new = [m for m in dict.fromkeys(members) if m not in batch.pending]
            for member in new:
                if member in batch.early_done:
                    batch.early_done.discard(member)
                    batch.early_failed.pop(member, None)
                    batch.early_dead.discard(member)
                    continue
                batch.pending.add(member)
                error = batch.early_failed.pop(member, None)
                if error is None:
                    batch.unrun.add(member)
                    continue
                batch.failed[member] = error
                if member in batch.early_dead:
                    batch.early_dead.discard(member)
                    batch.dead.add(member)
            if counted:
                batch.total += len(new)
            return len(new)

    def batch_done(self, bid: str, member: str, outcome: Outcome, error: str, now: float) -> list[str]:
        with self._lock:
            batch = self._live(bid)
            if batch is None:
                return []
            known = member in batch.pending
            if not known:
                _early(batch, member, outcome, error)
                return []
            batch.unrun.discard(member)
            if outcome == "success":
                batch.pending.discard(member)
                batch.failed.pop(member, None)
            elif outcome in ("failure", "death"):
                batch.failed[member] = error
                if outcome == "death":
                    batch.dead.add(member)
            due = {
                "death": bool(batch.dead),
                "complete": not batch.unrun,
                "success": not batch.pending,
            }
            fired = []
            for event in EVENTS:
                if due[event] and event not in batch.fired:
                    at = now + SUCCESS_OFFSET if event == "success" else now
                    batch.fired[event] = now
                    if batch.callbacks[event]:
                        self.add_to_set("schedule", [(at, p) for p in batch.callbacks[event]])
                    fired.append(event)
            if "success" in fired:
                batch.expires_at = time.time() + batch.success_ttl
            return fired

    def batch_done_many(self, reports: Sequence[Report]) -> list[list[str]]:
        with self._lock:  # one atomic step, as the other stores
            return [self.batch_done(*report) for report in reports]

    def batch_state(self, bid: str, failed_limit: int = 100) -> BatchState | None:
        with self._lock:
            batch = self._live(bid)
            if batch is None:
                return None
            failed = dict(sorted(batch.failed.items())[:failed_limit])
            return BatchState(
                bid=bid,
                meta=batch.meta,
                created_at=batch.created_at,
                total=batch.total,
                pending=len(batch.pending),
                unrun=len(batch.unrun),
                failures=len(batch.failed),
                dead=len(batch.dead),
                failed=failed,
                fired=dict(batch.fired),
                expires_at=batch.expires_at,
            )

    def batch_members(self, bid: str, limit: int = 100) -> list[str]:
        with self._lock:
            batch = self._live(bid)
            return [] if batch is None else sorted(batch.pending)[:limit]

    def batch_ids(self, limit: int = 100) -> list[str]:
        with self._lock:
            live = [(b.created_at, bid) for bid in list(self._batches) if (b := self._live(bid)) is not None]
            return [bid for _, bid in sorted(live, reverse=True)[:limit]]
