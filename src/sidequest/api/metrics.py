"""Per job class executions, failures and run time, per minute (Sidekiq 7's Metrics page).

Workers count in memory and add their counts with each heartbeat, so a class's latest minute fills
in as heartbeats arrive (every few seconds), and minutes are kept 8 hours.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sidequest._time import now
from sidequest.api._store import resolve
from sidequest.api.records import ClassMetrics, MinuteCounts
from sidequest.errors import ConfigError
from sidequest.stores import Store
from sidequest.stores.base import (
    HISTOGRAM_BOUNDS_MS,
    HISTOGRAM_BUCKETS,
    METRICS_RETENTION,
    JobCounts,
    add_buckets,
    minute_of,
)

#: The longest period a query covers: what the store keeps.
MAX_MINUTES = METRICS_RETENTION // 60
#: Upper bounds in ms of ClassMetrics.histogram's buckets (the last bucket has none), Sidekiq 7's.
BUCKET_BOUNDS_MS = HISTOGRAM_BOUNDS_MS


class Metrics:
    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def top_jobs(
        self, minutes: int = 60, *, class_filter: str = "", until: float | None = None
    ) -> list[ClassMetrics]:
        """Every class that ran in the last minutes, most run time first; class_filter keeps names containing it."""
        if not 1 <= minutes <= MAX_MINUTES:
            raise ConfigError(f"metrics cover 1 to {MAX_MINUTES} minutes, got {minutes}")
        end = now() if until is None else until
        by_minute = self.store.job_metrics(end, minutes)
        names = sorted({name for counts in by_minute.values() for name in counts if class_filter in name})
        last = minute_of(end)
        span = [last - 60 * offset for offset in range(minutes - 1, -1, -1)]
        result = [_class_metrics(name, span, by_minute) for name in names]
        return sorted(result, key=lambda m: (-m.total_ms, -m.executions, m.job_class))

    def for_job(self, job_class: str, minutes: int = 60, *, until: float | None = None) -> ClassMetrics:
        """One class's minutes (zeros when it did not run) and its execution-time histogram."""
        end = now() if until is None else until
        found = [
            m for m in self.top_jobs(minutes, class_filter=job_class, until=end) if m.job_class == job_class
        ]
        if found:
            metrics = found[0]
        else:
            last = minute_of(end)
            metrics = _class_metrics(
                job_class, [last - 60 * offset for offset in range(minutes - 1, -1, -1)], {}
            )
        histogram = [0] * HISTOGRAM_BUCKETS
        for buckets in self.store.job_histogram(job_class, end, minutes).values():
            histogram = add_buckets(histogram, buckets)
        return replace(metrics, histogram=histogram)


def _class_metrics(name: str, span: list[int], by_minute: dict[int, dict[str, JobCounts]]) -> ClassMetrics:
    minutes = []
    for minute in span:
        counts = by_minute.get(minute, {}).get(name, JobCounts())
        minutes.append(
            MinuteCounts(datetime.fromtimestamp(minute, UTC), counts.executions, counts.failures, counts.ms)
        )
    return ClassMetrics(
        job_class=name,
        executions=sum(m.executions for m in minutes),
        failures=sum(m.failures for m in minutes),
        total_ms=sum(m.total_ms for m in minutes),
        minutes=minutes,
    )
