"""Batches for operators: the list with progress, one batch's pending and failed jobs and callbacks.

Reads only; a batch changes through its jobs. Expired batches (their TTL passed) are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sidequest._time import to_datetime
from sidequest.api._store import resolve
from sidequest.batches.batch import BatchStatus, read_status
from sidequest.batches.status import JobStatus
from sidequest.batches.status import read_status as read_job_status
from sidequest.errors import SidequestError
from sidequest.stores import Store


class BatchNotFound(SidequestError, LookupError):
    """No batch with this id: it never existed here, or its data expired."""


@dataclass(frozen=True)
class BatchSummary:
    """One row of the batch list. progress is the percent of jobs that succeeded."""

    bid: str
    description: str
    total: int
    pending: int
    failures: int
    dead: int
    progress: float
    created_at: datetime | None
    complete_at: datetime | None
    success_at: datetime | None
    state: str  # "running", "complete", "succeeded" or "dead"


def summarize(status: BatchStatus) -> BatchSummary:
    done = max(0, status.total - status.pending) if status.total else 0
    state = (
        "succeeded"
        if status.success_at is not None
        else "dead"
        if status.death_at is not None
        else "complete"
        if status.complete_at is not None
        else "running"
    )
    return BatchSummary(
        bid=status.bid,
        description=status.description,
        total=status.total,
        pending=status.pending,
        failures=status.failures,
        dead=status.dead,
        progress=100.0
        if status.success_at is not None
        else (100.0 * done / status.total if status.total else 0.0),
        created_at=to_datetime(status.created_at),
        complete_at=to_datetime(status.complete_at),
        success_at=to_datetime(status.success_at),
        state=state,
    )


class BatchSet:
    """The batches of a store, newest first."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def list(self, limit: int = 50) -> list[BatchSummary]:
        found = (read_status(self.store, bid, jids=0) for bid in self.store.batch_ids(limit))
        return [summarize(status) for status in found if status is not None]

    def get(self, bid: str, *, jids: int = 100) -> BatchStatus:
        """One batch with up to jids pending jids and its failures; BatchNotFound when it is gone."""
        status = read_status(self.store, bid, jids)
        if status is None:
            raise BatchNotFound(
                f"no batch {bid!r} in this store: it never existed here or its data expired "
                "(`sidequest batches list` shows the batches there are)"
            )
        return status


def status_of(jid: str, store: Store | None = None) -> JobStatus | None:
    """A job's status record (jobs pushed with ``status``), or None: for job pages."""
    return read_job_status(resolve(store), jid)
