"""The part of the store contract that periodic, unique and expiring jobs need (base.Store inherits it).

Kept apart from base.py so each file stays one noun. Every method documents its atomicity, as in
base.py: the tick claim in particular is what makes "exactly one enqueue per tick" hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class PeriodicState:
    """A periodic schedule as the store keeps it: its definition (JSON) and what happened last."""

    name: str
    definition: str
    paused: bool
    last_tick: float | None  # the latest tick claimed (or the registration time before the first)
    last_jid: str | None  # the job enqueued last, by a tick or by "enqueue now"
    last_enqueued_at: float | None
    last_outcome: str | None  # "done" or "failed", written by the worker that ran last_jid's job
    last_outcome_at: float | None


class PeriodicStore(ABC):
    """Periodic schedules, unique-job locks and named counters; see docs/periodic.md."""

    # ---- periodic schedules (sidequest.periodic) ---------------------------------------------------
    @abstractmethod
    def periodic_sync(self, definitions: Mapping[str, str], now: float) -> list[str]:
        """Make the stored schedules exactly these (name -> definition JSON); returns the names removed.

        A new schedule starts with last_tick = now, so ticks before it was registered never fire; an
        existing one keeps its paused flag and history. Atomic: a claim never sees half a sync.
        """

    @abstractmethod
    def periodic_claim(self, name: str, tick: float, queue: str, payload: str, jid: str, now: float) -> bool:
        """Claim tick for schedule name and push payload to queue, in one atomic step.

        Succeeds only if the schedule exists, is not paused and its last_tick is before tick; then
        last_tick = tick and last_jid/last_enqueued_at record the job. So each tick is enqueued at
        most once however many processes claim it, and never claimed without its job being pushed.
        """

    @abstractmethod
    def periodic_enqueue_now(self, name: str, queue: str, payload: str, jid: str, now: float) -> bool:
        """Push payload for schedule name out of band (last_tick unchanged); False if it is unknown. Atomic."""

    @abstractmethod
    def periodic_pause(self, name: str, paused: bool, now: float) -> bool:
        """Pause or resume a schedule; False if it is unknown. Resuming sets last_tick to at least now,
        so the ticks that fell while paused are not enqueued as missed ones. Atomic."""

    @abstractmethod
    def periodic_states(self) -> list[PeriodicState]:
        """Every stored schedule, sorted by name."""

    @abstractmethod
    def periodic_outcome(self, name: str, jid: str, outcome: str, at: float) -> None:
        """Record how the job jid of schedule name ended ("done" or "failed"); ignored for an unknown schedule."""

    # ---- unique-job locks (sidequest.middleware.unique) ------------------------------------------
    @abstractmethod
    def unique_lock(self, key: str, owner: str, ttl: float, now: float) -> bool:
        """Take lock key for owner (a jid) for ttl seconds if no one holds it; True when taken.

        Atomic set-if-absent: of concurrent callers exactly one gets a free lock. now is the caller's
        clock for stores that keep expiry times themselves (Redis uses its own key TTL).
        """

    @abstractmethod
    def unique_unlock(self, key: str, owner: str) -> bool:
        """Release lock key if owner holds it; True when released. Atomic compare-and-delete."""

    @abstractmethod
    def unique_owner(self, key: str, now: float) -> str | None:
        """Who holds lock key now (a jid), or None."""

    # ---- named counters (jobs skipped as expired, ...) -------------------------------------------
    @abstractmethod
    def add_stat(self, name: str, amount: int, now: float) -> None:
        """Add amount to counter name, lifetime and for now's UTC day (Redis: ``stat:<name>`` and
        ``stat:<name>:<YYYY-MM-DD>``, like Sidekiq's processed/failed). reset_counters leaves it alone."""

    @abstractmethod
    def stat(self, name: str) -> int:
        """Counter name's lifetime total (0 if never added to)."""
