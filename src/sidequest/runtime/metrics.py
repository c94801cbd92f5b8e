"""Per job class counts kept in memory by a worker and handed to each heartbeat (Sidekiq 7's metrics).

Recording a run is a dict update under a lock that only the heartbeat also takes, so the store sees
one write per class per beat, never one per job.
"""

from __future__ import annotations

import threading

from sidequest.stores.base import HISTOGRAM_BUCKETS, JobCounts, bucket_of


class JobMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, JobCounts] = {}

    def record(self, job_class: str, seconds: float, failed: bool) -> None:
        """One run of job_class; its time (total and histogram) counts only when it succeeded, as in Sidekiq."""
        with self._lock:
            counts = self._counts.get(job_class)
            if counts is None:
                counts = self._counts[job_class] = JobCounts()
            counts.executions += 1
            if failed:
                counts.failures += 1
            else:
                ms = seconds * 1000.0
                counts.ms += ms
                if not counts.buckets:
                    counts.buckets = [0] * HISTOGRAM_BUCKETS
                counts.buckets[bucket_of(ms)] += 1

    def take(self) -> dict[str, JobCounts]:
        """The counts since the last take, which start again from zero."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def give_back(self, counts: dict[str, JobCounts]) -> None:
        """Counts a heartbeat could not store: they go with the next one."""
        with self._lock:
            for job_class, more in counts.items():
                self._counts.setdefault(job_class, JobCounts()).add(more)
