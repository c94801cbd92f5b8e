"""The operator API: what Sidekiq's API and Web UI show and do, on every store.

The dashboard, the CLI and users' own scripts read and steer a store through these classes, never
through the store's methods directly. Each class takes a store (from ``connect(url)``, or the
configured one when omitted) and returns plain records (records.py) ready to render::

    from sidequest import api

    store = api.connect("redis://localhost:6379/0")
    print(api.Stats(store).read().enqueued)
    for entry in api.RetrySet(store).page(1).items:
        print(entry.key, entry.display_class, entry.error_message)
    api.RetrySet(store).retry_all()
    api.Queue("mailers", store).pause()
"""

from sidequest.api._store import connect
from sidequest.api.batches import BatchNotFound, BatchSet, BatchSummary
from sidequest.api.metrics import Metrics
from sidequest.api.periodic import Periodic, PeriodicSchedule, UnknownScheduleError
from sidequest.api.processes import HeldByDead, ProcessSet, WorkSet
from sidequest.api.queues import Queue
from sidequest.api.records import (
    ClassMetrics,
    DayCounts,
    HeldJob,
    JobRecord,
    MinuteCounts,
    Page,
    ProcessInfo,
    QueueSummary,
    RunningJob,
    SortedEntry,
    StatsRecord,
    entry_key,
)
from sidequest.api.sets import DeadSet, JobSet, RetrySet, ScheduledSet
from sidequest.api.stats import Stats
from sidequest.api.unique import UniqueLock, unique_lock

__all__ = [
    "BatchNotFound",
    "BatchSet",
    "BatchSummary",
    "ClassMetrics",
    "DayCounts",
    "DeadSet",
    "HeldByDead",
    "HeldJob",
    "JobRecord",
    "JobSet",
    "Metrics",
    "MinuteCounts",
    "Page",
    "Periodic",
    "PeriodicSchedule",
    "ProcessInfo",
    "ProcessSet",
    "Queue",
    "QueueSummary",
    "RetrySet",
    "RunningJob",
    "ScheduledSet",
    "SortedEntry",
    "Stats",
    "StatsRecord",
    "WorkSet",
    "connect",
    "UniqueLock",
    "UnknownScheduleError",
    "entry_key",
    "unique_lock",
]
