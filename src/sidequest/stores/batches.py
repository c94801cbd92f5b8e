"""The store's part of batches: membership sets, counters and the one atomic step that fires callbacks.

A batch is a set of members (job jids, plus hold tokens and child batch ids that count as one unit).
Each member is *unrun* until it ran once and *pending* until it succeeded. Bookkeeping is idempotent
under at-least-once delivery: finishing a member removes it from sets, so a re-run changes nothing.

``batch_done`` is the only step that fires callbacks: in one atomic step (Redis: one Lua script;
SQLite: one transaction; memory: the store's lock) it records the outcome, checks the sets, marks an
event fired and adds that event's callback payloads to the "schedule" set at score now, where the
poller enqueues them like any scheduled job. A process killed before the step leaves the job to be
recovered and re-run; killed after it, the re-run finds the event already fired. So each callback is
enqueued exactly once.

A job may report before its jid was added (the client adds the jids of a ``jobs()`` block in chunks,
after pushing them, while the block holds the batch open): such an outcome is kept apart and applied
when the member is added, so it never becomes a member that waits for a run that already happened.

Memory is bounded by the members still pending plus the failures: finished members leave the sets
(an outcome reported for a member that is never added again, such as a second run of a job that
already succeeded, stays in the early records until the batch expires).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

#: What happened to a member: it succeeded; it ran and failed (a retry may follow); it died; or (for a
#: child batch) it ran, which is what its parent's "complete" waits for.
Outcome = Literal["success", "failure", "death", "ran"]
OUTCOMES = ("success", "failure", "death", "ran")

#: Callback events in the order they fire when one step fires several.
EVENTS = ("death", "complete", "success")

#: How far after "complete" the "success" callback is scheduled in the same step, so the poller
#: enqueues complete's callbacks first (a sorted set orders equal scores by bytes, not by insertion).
SUCCESS_OFFSET = 0.001


class Report(NamedTuple):
    """One batch_done call, kept until the store flushes it (see BatchStore.defer_batch_done)."""

    bid: str
    member: str
    outcome: Outcome
    error: str
    now: float


@dataclass(slots=True)
class BatchState:
    """A batch as the store keeps it. Counts are members; failed maps jid -> error text."""

    bid: str
    meta: str  # JSON written by sidequest.batches.Batch (description, parent, callback names)
    created_at: float
    total: int  # counted members ever added (jobs; not hold tokens nor child batches)
    pending: int  # members that have not succeeded yet (holds and children included)
    unrun: int  # members that have not run once yet (holds and children included)
    failures: int  # members whose last run failed and that have not succeeded since
    dead: int  # members that died
    failed: dict[str, str] = field(default_factory=dict)  # up to the limit asked for
    fired: dict[str, float] = field(default_factory=dict)  # event -> epoch seconds it fired
    expires_at: float = 0.0


class BatchStore(ABC):
    """Batch operations every store implements (mixed into Store)."""

    @abstractmethod
    def batch_create(
        self,
        bid: str,
        meta: str,
        callbacks: Sequence[tuple[str, str]],
        now: float,
        ttl: float,
        success_ttl: float,
    ) -> bool:
        """Create batch bid with its (event, payload) callbacks; False (and nothing changes) if it exists.

        Its data is kept ttl seconds (renewed by batch_add), and success_ttl seconds once "success"
        fired. Atomic.
        """

    @abstractmethod
    def batch_add(self, bid: str, members: Sequence[str], *, counted: bool = True) -> int | None:
        """Add members as unrun and pending; returns how many were new, or None if bid does not exist.

        counted members add to total (jobs); uncounted ones (holds, child batches) only hold the batch
        open. A member that already reported (batch_done before this) gets that outcome now: one
        that succeeded only counts toward total; one that failed or died is pending with its error.
        Atomic: the members are added together. Never fires an event.
        """

    @abstractmethod
    def batch_done(self, bid: str, member: str, outcome: Outcome, error: str, now: float) -> list[str]:
        """Record member's outcome and fire the events that became due; returns the events fired now.

        success: member leaves unrun and pending, and its failure record goes. failure: it leaves
        unrun and its error is recorded. death: as failure, and it counts as dead. ran: it leaves
        unrun only. A member that is not (or no longer) in the batch changes nothing but may still
        fire nothing twice. Events: "complete" when unrun is empty, "success" when pending is empty,
        "death" at the first death. Each event fires once ever: its fired time is set and its
        callback payloads are added to "schedule" at score now (success at now + SUCCESS_OFFSET),
        in the same atomic step. After "success" the batch's data expires in its success_ttl.
        An unknown or expired bid returns [] and changes nothing.
        """

    def batch_done_many(self, reports: Sequence[Report]) -> list[list[str]]:
        """batch_done for each report, in order, as one atomic step (one round trip or transaction).

        Returns the events fired, per report; a store may check a batch's events once, after all of
        its reports, and return them at its last report."""
        return [self.batch_done(*report) for report in reports]

    def defer_batch_done(self, report: Report) -> None:
        """Keep a report to be written by the next flush_batch_reports, which ``ack`` calls first.

        For workers: a job's report then shares the round trip of its acknowledgement, and is always
        stored before it (a process that dies before the flush has not acknowledged the job either,
        so the job runs again and reports again).
        """
        with _deferred_lock:
            self.__dict__.setdefault("_deferred_reports", []).append(report)

    @property
    def defers_batch_reports(self) -> bool:
        """Whether a worker acknowledges jobs through this store object (it has called ``ack``), so a
        deferred report is sure to be flushed; elsewhere (scripts, tests) reports are written at once."""
        return bool(self.__dict__.get("_acks_here"))

    def flush_batch_reports(self) -> None:
        """Write the deferred reports (a no-op when there are none); they are kept if this raises.

        Every store's ``ack`` calls it first."""
        self.__dict__["_acks_here"] = True
        if not self.__dict__.get("_deferred_reports"):
            return
        with _deferred_lock:
            reports, self.__dict__["_deferred_reports"] = self.__dict__["_deferred_reports"], []
        try:
            self.batch_done_many(reports)
        except BaseException:
            with _deferred_lock:
                self.__dict__["_deferred_reports"] = reports + self.__dict__["_deferred_reports"]
            raise

    @abstractmethod
    def batch_state(self, bid: str, failed_limit: int = 100) -> BatchState | None:
        """The batch's counters, its first failed_limit failures, and fired events; None if unknown."""

    @abstractmethod
    def batch_members(self, bid: str, limit: int = 100) -> list[str]:
        """Up to limit pending members (not succeeded yet), sorted."""

    @abstractmethod
    def batch_ids(self, limit: int = 100) -> list[str]:
        """Ids of batches that still exist, newest first, up to limit (expired ones are forgotten)."""


_deferred_lock = threading.Lock()


def callbacks_by_event(callbacks: Sequence[tuple[str, str]]) -> Mapping[str, list[str]]:
    """(event, payload) pairs grouped by event, every event present."""
    grouped: dict[str, list[str]] = {event: [] for event in EVENTS}
    for event, payload in callbacks:
        grouped[event].append(payload)
    return grouped
