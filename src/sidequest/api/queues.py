"""Queues: size, latency, paging, finding and deleting jobs, clearing, pausing (Sidekiq's Queue).

A paused queue keeps taking pushes, but every worker's fetch skips it until it is resumed: the
store checks the paused state inside its atomic fetch step, so no worker needs telling.
"""

from __future__ import annotations

from collections.abc import Iterator

from sidequest._time import now
from sidequest.api._store import resolve
from sidequest.api.records import JobRecord, Page, QueueSummary
from sidequest.errors import ConfigError
from sidequest.stores import Store

#: Jobs read per store call when walking a queue (Sidekiq pages its LRANGE by 50).
WALK_PAGE = 500


class Queue:
    """One queue of a store, by name. Jobs are listed newest first, like Sidekiq's Web UI."""

    def __init__(self, name: str, store: Store | None = None) -> None:
        self.name = name
        self.store = resolve(store)

    @classmethod
    def all(cls, store: Store | None = None) -> list[Queue]:
        """Every known queue, sorted by name."""
        resolved = resolve(store)
        return [cls(name, resolved) for name in resolved.queue_names()]

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    def size(self) -> int:
        return self.store.queue_size(self.name)

    def latency(self) -> float:
        """Seconds the next job to run has waited since it was enqueued; 0 when the queue is empty."""
        oldest = self.store.queue_oldest(self.name)
        if oldest is None:
            return 0.0
        enqueued = JobRecord.from_raw(oldest, self.name).enqueued_epoch
        return max(0.0, now() - enqueued) if enqueued is not None else 0.0

    def paused(self) -> bool:
        return self.name in self.store.paused_queues()

    def summary(self) -> QueueSummary:
        return QueueSummary(self.name, self.size(), self.latency(), self.paused())

    def page(
        self, page: int = 1, per_page: int = 25, *, oldest_first: bool = False, total: int | None = None
    ) -> Page[JobRecord]:
        """Jobs newest first (page 1 holds the per_page most recently pushed), or with oldest_first
        the next to run first (Sidekiq's direction=asc).

        total: the queue's size if the caller has just read it, to skip counting again: on SQLite
        a count walks the queue's index (about 5 ms per 100,000 jobs).
        """
        _check_paging(page, per_page)
        start = (page - 1) * per_page
        if oldest_first:  # counted from the far end of the list: -1 is the next job out
            raws = self.store.queue_range(self.name, -start - per_page, -start - 1)[::-1]
        else:
            raws = self.store.queue_range(self.name, start, start + per_page - 1)
        size = self.size() if total is None else total
        return Page([JobRecord.from_raw(raw, self.name) for raw in raws], page, per_page, size)

    def __iter__(self) -> Iterator[JobRecord]:
        """Every job, newest first, read a page at a time (jobs fetched meanwhile may shift a page)."""
        start = 0
        while True:
            raws = self.store.queue_range(self.name, start, start + WALK_PAGE - 1)
            for raw in raws:
                yield JobRecord.from_raw(raw, self.name)
            if len(raws) < WALK_PAGE:
                return
            start += WALK_PAGE

    def find_job(self, jid: str) -> JobRecord | None:
        """The job with this jid, or None; walks the queue (as Sidekiq's does), a page at a time."""
        for job in self:
            if job.jid == jid:
                return job
        return None

    def delete(self, job: JobRecord | str) -> bool:
        """Remove one job (a record from this queue, or its jid); False when it is no longer there."""
        record = self.find_job(job) if isinstance(job, str) else job
        if record is None:
            return False
        return self.store.queue_remove(self.name, record.raw) == 1

    def clear(self) -> int:
        """Drop every job of the queue and forget its name (Sidekiq's Queue#clear); returns how many went."""
        size = self.size()
        self.store.queue_clear(self.name)
        return size

    def pause(self) -> None:
        """Workers stop taking this queue's jobs until resume(); pushes still land."""
        self.store.pause_queue(self.name)

    def resume(self) -> None:
        self.store.resume_queue(self.name)


def _check_paging(page: int, per_page: int) -> None:
    if page < 1 or per_page < 1:
        raise ConfigError(f"page and per_page start at 1, got page={page}, per_page={per_page}")
