"""Every Redis key name the store uses, in one place.

Sidekiq's keys are spelled byte for byte as Sidekiq spells them, so Ruby processes, the Sidekiq Web UI
and sidequest share one keyspace. The reliable-fetch keys under ``sidequest:inprogress`` are ours:
Sidekiq OSS has no in-progress lists, and Pro's are private to Pro.

A namespace (off by default) prefixes every key with ``<namespace>:``, as the redis-namespace gem did
for Sidekiq 6; Sidekiq 7+ dropped namespaces, so only set one when no 7+ peer shares the data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

#: Daily stat keys live five years, like Sidekiq's STATS_TTL.
STATS_TTL = 157_680_000
#: A queued signal is dropped if its process does not pick it up within a minute (Sidekiq's value).
SIGNAL_TTL = 60
#: ProcessSet cleanup runs at most once per this many seconds across all clients.
CLEANUP_INTERVAL = 60
#: Per-minute metrics hashes live 8 hours, like Sidekiq 7's.
METRICS_TTL = 8 * 3600


class Keys:
    """Key names for one namespace and one Sidekiq wire version ("6", "7" or "8")."""

    def __init__(self, namespace: str = "", sidekiq_version: str = "7") -> None:
        self.prefix = f"{namespace}:" if namespace else ""
        self.sidekiq_version = sidekiq_version
        self.queues = self.prefix + "queues"
        self.processes = self.prefix + "processes"
        self.process_cleanup = self.prefix + "process_cleanup"
        self.dead = self.prefix + "dead"
        #: SET of paused queue names; Sidekiq Pro's key, so a Pro UI sharing the Redis agrees.
        self.paused = self.prefix + "paused"
        #: Queue keys are this plus the queue name (Lua scripts build them from it).
        self.queue_prefix = self.prefix + "queue:"
        #: SET of identities that may hold in-progress jobs; recovery starts here.
        self.in_progress_registry = self.prefix + "sidequest:inprogress"
        #: A job's recovery count is this plus the SHA1 of its payload (recover.lua builds the key).
        self.recoveries_prefix = self.prefix + "sidequest:recoveries:"
        #: HASH of periodic schedule name -> definition JSON (ours: Enterprise's periodic keys are private).
        self.periodic = self.prefix + "sidequest:periodic"
        #: Per-schedule state hashes are this plus the name (paused, last_tick, last_jid, ...).
        self.periodic_state_prefix = self.prefix + "sidequest:periodic:"

    def queue(self, name: str) -> str:
        return self.queue_prefix + name

    def record(self, key: str) -> str:
        """A STRING with a TTL: an integration's record (Store.put_record), e.g. a Django task result."""
        return f"{self.prefix}sidequest:record:{key}"

    def sorted_set(self, name: str) -> str:
        """schedule, retry or dead."""
        return self.prefix + name

    def stat(self, kind: str) -> str:
        """kind is "processed" or "failed"."""
        return f"{self.prefix}stat:{kind}"

    def stat_day(self, kind: str, day: str) -> str:
        """day is a UTC date, YYYY-MM-DD."""
        return f"{self.prefix}stat:{kind}:{day}"

    def process(self, identity: str) -> str:
        """The heartbeat hash: its existence is what "alive" means."""
        return self.prefix + identity

    def work_keys(self, identity: str) -> Sequence[str]:
        """Running-jobs hashes to write: Sidekiq <= 6.4 UIs read ``:workers``, 6.5+ read ``:work``."""
        if self.sidekiq_version == "6":
            return (f"{self.prefix}{identity}:work", f"{self.prefix}{identity}:workers")
        return (f"{self.prefix}{identity}:work",)

    def work_read_keys(self, identity: str) -> Sequence[str]:
        """Running-jobs hashes to read: both names, so Ruby processes of any version are seen."""
        return (f"{self.prefix}{identity}:workers", f"{self.prefix}{identity}:work")

    def signals(self, identity: str) -> str:
        return f"{self.prefix}{identity}-signals"

    def in_progress_queues(self, identity: str) -> str:
        """SET of queue names identity has fetched from (so recovery knows which lists to look at)."""
        return f"{self.in_progress_registry}:{identity}"

    def in_progress_prefix(self, identity: str) -> str:
        """In-progress list keys are this plus the queue name (Lua scripts build them from it).

        "|" cannot occur in a hostname-based identity nor in a Sidekiq queue name, so a list key never
        equals another identity's queue-set key (":" could: identities and queue names contain it).
        """
        return f"{self.in_progress_registry}:{identity}|"

    def in_progress(self, identity: str, queue: str) -> str:
        """LIST of jobs identity took from queue and has not acked or requeued; newest at the head."""
        return self.in_progress_prefix(identity) + queue

    def metrics_minute(self, minute: int) -> str:
        """The per-minute metrics HASH for the UTC minute starting at epoch second minute.

        Sidekiq 7's ``j|YYYYMMDD|H:M`` (hour and minute not padded); with "8", Sidekiq 8's
        ``j|YYMMDD|H:MM``. Sidekiq 6 has none, so "6" uses the 7 layout.
        """
        t = time.gmtime(minute)
        if self.sidekiq_version == "8":
            return f"{self.prefix}j|{t.tm_year % 100:02d}{t.tm_mon:02d}{t.tm_mday:02d}|{t.tm_hour}:{t.tm_min:02d}"
        return f"{self.prefix}j|{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}|{t.tm_hour}:{t.tm_min}"

    def metrics_histogram(self, job_class: str, minute: int) -> str:
        """job_class's execution-time histogram (a BITFIELD of u16 buckets) for the UTC minute at minute.

        Sidekiq 7's ``<class>-DD-HH:M`` (day and hour padded, minute not); Sidekiq 8's ``<class>-D-H:M``.
        """
        t = time.gmtime(minute)
        if self.sidekiq_version == "8":
            return f"{self.prefix}{job_class}-{t.tm_mday}-{t.tm_hour}:{t.tm_min}"
        return f"{self.prefix}{job_class}-{t.tm_mday:02d}-{t.tm_hour:02d}:{t.tm_min}"

    def periodic_state(self, name: str) -> str:
        """HASH of one schedule's state: paused, last_tick, last_jid, last_enqueued_at, last_outcome(_at)."""
        return self.periodic_state_prefix + name

    def unique(self, digest: str) -> str:
        """STRING holding the jid that owns a unique-job lock, with the lock's TTL.

        Sidekiq Enterprise documents only that its lock covers class, queue and args (SHA-256 since
        8.0); the exact key is not public, so this is ``unique:<sha256 hex>`` in the same spirit.
        """
        return f"{self.prefix}unique:{digest}"
