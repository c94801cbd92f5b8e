"""Stats: the dashboard's counters and the daily history (Sidekiq's Stats and Stats::History)."""

from __future__ import annotations

from sidequest._time import now
from sidequest.api._store import resolve
from sidequest.api.queues import Queue
from sidequest.api.records import DayCounts, StatsRecord
from sidequest.errors import ConfigError
from sidequest.stores import Store

#: Sidekiq's Stats::History accepts 1 to 1825 days (five years, the daily keys' lifetime).
MAX_HISTORY_DAYS = 1825


class Stats:
    """Counters of one store. Every read is fresh; nothing is cached between calls."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def read(self) -> StatsRecord:
        """All counters at once (a handful of store reads; none walks a queue or a set)."""
        store = self.store
        counters = store.counters()
        processes = store.processes()
        held, _ = store.held_by_dead(limit=0)
        return StatsRecord(
            processed=counters.processed,
            failed=counters.failed,
            enqueued=sum(store.queue_size(name) for name in store.queue_names()),
            scheduled=store.set_size("schedule"),
            retries=store.set_size("retry"),
            dead=store.set_size("dead"),
            processes=len(processes),
            busy=sum(process.busy for process in processes),
            default_latency=Queue("default", store).latency(),
            held_by_dead=held,
            quiet=sum(1 for process in processes if process.quiet),
            paused_queues=store.paused_queues(),
        )

    def reset(self) -> None:
        """Set the lifetime processed and failed counters to 0 (daily history is kept, as in Sidekiq)."""
        self.store.reset_counters()

    def history(self, days: int = 30, *, until: float | None = None) -> list[DayCounts]:
        """Processed and failed per UTC day for the days up to until (default now), newest first."""
        if not 1 <= days <= MAX_HISTORY_DAYS:
            raise ConfigError(f"history covers 1 to {MAX_HISTORY_DAYS} days, got {days}")
        counts = self.store.history(days, now() if until is None else until)
        return [DayCounts(day, processed, failed) for day, (processed, failed) in counts.items()]

    def store_info(self) -> dict[str, str]:
        """What the store says about itself: Redis version, memory, clients, uptime; SQLite path and size."""
        return self.store.info()
