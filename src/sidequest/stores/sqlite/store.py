"""The store contract on one SQLite file, for several processes on one machine.

A job is one row of ``jobs``: pending while ``owner`` is NULL, in progress while a process identity
owns it, so fetch, ack, requeue and recovery are single-row updates inside one transaction and a job
is never in two places or in none. ``id`` is the queue position (push appends at max + 1, requeue and
recovery put jobs at min - 1, the front). Every write is one ``BEGIN IMMEDIATE`` transaction, which
SQLite serialises across processes: that is what makes each method atomic as base.Store describes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence

from sidequest.errors import StoreNotFound
from sidequest.stores.base import MAX_RECOVERIES, Recovered, Store, Work, crashed_entry
from sidequest.stores.sqlite.batches import Batches
from sidequest.stores.sqlite.bell import Bell, bell_for
from sidequest.stores.sqlite.database import Database, parse_url
from sidequest.stores.sqlite.periodic import PeriodicSQLite
from sidequest.stores.sqlite.processes import Processes, expire_processes
from sidequest.stores.sqlite.sorted_sets import SortedSets, add_entries, rank_window

#: How often an idle fetch looks for commits from other processes (one ``PRAGMA data_version``) when
#: it cannot listen for their wake-ups (wakeup.py): often enough that another process's push is seen
#: promptly, rarely enough that an idle worker costs about a percent of a core (docs/benchmarks.md).
IDLE_POLL = 0.02


class SQLiteStore(Batches, SortedSets, Processes, PeriodicSQLite, Store):
    """``sqlite:///path/to/file.db?synchronous=FULL&busy_timeout=30``: the embedded default store.

    synchronous=NORMAL (the default) with WAL survives a crash of any process but may lose the last
    commits on power loss; FULL also survives power loss at the cost of an fsync per commit.
    busy_timeout is how long, in seconds, an operation waits for another process's lock before
    StoreUnavailable.
    """

    def __init__(
        self,
        url: str,
        synchronous: str | None = None,
        busy_timeout: float | None = None,
        *,
        create: bool = True,
    ) -> None:
        self.url = url
        options = parse_url(url, synchronous, busy_timeout)
        self.path = options.path
        if not create and not os.path.exists(options.path):
            raise StoreNotFound(
                f"no store at {os.path.abspath(options.path)}; run this where the store is, or pass --url "
                "sqlite:///path/to/sidequest.db (a worker creates the file when it starts)"
            )
        self._db = Database(options)
        self._bell_of = (os.getpid(), bell_for(options.path))
        self._bell_released = False

    @property
    def _bell(self) -> Bell:
        """This process's bell for the file; a forked child must not share its parent's locks."""
        pid, bell = self._bell_of
        if pid != os.getpid():
            self._bell_of = (os.getpid(), bell_for(self.path))
            self._bell_released = False
            bell = self._bell_of[1]
        return bell

    # ---- queues --------------------------------------------------------------------------------
    def push(self, items: Sequence[tuple[str, str]]) -> None:
        if not items:
            return
        rows = [(queue, payload) for queue, payload in items]
        queues = [(queue,) for queue in dict.fromkeys(queue for queue, _ in rows)]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", queues)
            conn.executemany("INSERT INTO jobs (queue, payload) VALUES (?, ?)", rows)

        self._db.write("push jobs", run)
        self._bell.ring()

    def schedule(self, items: Sequence[tuple[float, str]]) -> None:
        self._add_to_set("schedule", items, "schedule jobs")

    def fetch(self, identity: str, queues: Sequence[str], limit: int, timeout: float = 0.0) -> list[Work]:
        names = list(dict.fromkeys(queues))
        deadline = time.monotonic() + timeout
        while True:
            # Read both change markers before looking, so a push landing after the look still wakes us.
            rings = self._bell.rings
            version = self._db.data_version()
            if names and limit > 0 and self._any_ready(names):
                taken = self._db.write("fetch jobs", lambda conn: _claim(conn, identity, names, limit))
                if taken:
                    return taken
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._bell.wait(rings, remaining, IDLE_POLL, self._db.data_version, version)

    def _any_ready(self, names: list[str]) -> bool:
        marks = ",".join("?" * len(names))
        sql = (
            f"SELECT 1 FROM jobs WHERE queue IN ({marks}) AND owner IS NULL"
            " AND queue NOT IN (SELECT name FROM paused_queues) LIMIT 1"
        )
        return self._db.retry(
            lambda: self._db.connection().execute(sql, names).fetchone() is not None,
            "look for jobs",
            write=False,
        )

    def ack(self, identity: str, works: Sequence[Work]) -> int:
        self.flush_batch_reports()  # a job's batch report is stored before its acknowledgement
        if not works:
            return 0
        wanted = Counter((work.queue, work.payload) for work in works)

        def run(conn: sqlite3.Connection) -> int:
            pending = Counter(wanted)
            removed = 0
            # Each round deletes one row per distinct job, so acking a job listed twice removes two copies.
            while pending:
                keys = list(pending)
                if any("\x00" in payload or "\x00" in queue for queue, payload in keys):
                    # SQLite's JSON functions end a string at an escaped NUL: bind such keys directly
                    deleted = [row for key in keys for row in conn.execute(_ACK_ONE, (identity, *key))]
                else:
                    deleted = conn.execute(_ACK, (identity, json.dumps(keys, ensure_ascii=False))).fetchall()
                found = {(str(q), str(p)) for q, p in deleted}
                removed += len(deleted)
                for key in keys:
                    if key in found and pending[key] > 1:
                        pending[key] -= 1
                    else:
                        del pending[key]
            return removed

        return self._db.write("acknowledge jobs", run)

    def requeue(self, identity: str, works: Sequence[Work]) -> None:
        if not works:
            return

        def run(conn: sqlite3.Connection) -> int:
            moved = 0
            for work in works:
                row = conn.execute(
                    "SELECT id FROM jobs WHERE owner = ? AND queue = ? AND payload = ? ORDER BY claimed, id LIMIT 1",
                    (identity, work.queue, work.payload),
                ).fetchone()
                if row is not None:
                    _to_front(conn, int(row[0]), work.queue)
                    moved += 1
            return moved

        if self._db.write("push jobs back to their queues", run):
            self._bell.ring()

    def in_progress(self, identity: str) -> list[Work]:
        rows = self._db.read(
            "list jobs in progress",
            lambda conn: conn.execute(
                "SELECT queue, payload FROM jobs WHERE owner = ? ORDER BY claimed, id", (identity,)
            ).fetchall(),
        )
        return [Work(queue, payload) for queue, payload in rows]

    def recover(self, max_recoveries: int = MAX_RECOVERIES) -> list[Recovered]:
        def run(conn: sqlite3.Connection) -> list[Recovered]:
            now = time.time()
            expire_processes(conn, now)
            orphans = conn.execute(
                "SELECT id, queue, payload, owner, recoveries FROM jobs WHERE owner IS NOT NULL AND owner NOT IN "
                "(SELECT identity FROM processes WHERE expires_at > ?) ORDER BY owner, claimed, id",
                (now,),
            ).fetchall()
            recovered: list[Recovered] = []
            for job_id, queue, payload, owner, recoveries in orphans:
                count = int(recoveries) + 1
                buried = count >= max_recoveries
                if buried:
                    conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                    entry = crashed_entry(str(payload), count, now)
                    if entry is not None:
                        add_entries(conn, "dead", [(now, entry)])
                else:
                    conn.execute("UPDATE jobs SET recoveries = ? WHERE id = ?", (count, job_id))
                    _to_front(conn, int(job_id), str(queue))
                recovered.append(Recovered(str(owner), Work(str(queue), str(payload)), count, buried))
            return recovered

        # Every heartbeat calls this: look before taking the write lock.
        if not self._db.read_all("look for dead processes", _ANYTHING_TO_RECOVER, (time.time(),) * 2):
            return []
        recovered = self._db.write("recover jobs of dead processes", run)
        if recovered:
            self._bell.ring()
        return recovered

    def queue_names(self) -> list[str]:
        rows = self._db.read_all("list queues", "SELECT name FROM known_queues ORDER BY name", ())
        return [str(name) for (name,) in rows]

    def queue_size(self, queue: str) -> int:
        return int(self._db.read_all("count a queue", _COUNT_PENDING, (queue,))[0][0])

    def queue_range(self, queue: str, start: int, stop: int) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            window = rank_window(start, stop, lambda: self._count_pending(conn, queue))
            if window is None:
                return []
            rows = conn.execute(
                "SELECT payload FROM jobs WHERE queue = ? AND owner IS NULL ORDER BY id DESC LIMIT ? OFFSET ?",
                (queue, window[1], window[0]),
            ).fetchall()
            return [str(payload) for (payload,) in rows]

        return self._db.read("list a queue", run)

    @staticmethod
    def _count_pending(conn: sqlite3.Connection, queue: str) -> int:
        return int(conn.execute(_COUNT_PENDING, (queue,)).fetchone()[0])

    def queue_oldest(self, queue: str) -> str | None:
        rows = self._db.read_all(
            "read a queue",
            "SELECT payload FROM jobs WHERE queue = ? AND owner IS NULL ORDER BY id LIMIT 1",
            (queue,),
        )
        return str(rows[0][0]) if rows else None

    def queue_remove(self, queue: str, payload: str) -> int:
        # Like LREM count=1 on Sidekiq's list: the newest equal job goes.
        sql = (
            "DELETE FROM jobs WHERE id = (SELECT id FROM jobs WHERE queue = ? AND owner IS NULL AND payload = ? "
            "ORDER BY id DESC LIMIT 1)"
        )
        return self._db.write(
            "remove a job from a queue", lambda conn: conn.execute(sql, (queue, payload)).rowcount
        )

    def queue_clear(self, queue: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM jobs WHERE queue = ? AND owner IS NULL", (queue,))
            conn.execute("DELETE FROM known_queues WHERE name = ?", (queue,))

        self._db.write("clear a queue", run)

    # ---- operator methods ------------------------------------------------------------------------
    def pause_queue(self, queue: str) -> None:
        self._db.write(
            "pause a queue",
            lambda conn: conn.execute("INSERT OR IGNORE INTO paused_queues (name) VALUES (?)", (queue,)),
        )

    def resume_queue(self, queue: str) -> None:
        self._db.write(
            "resume a queue", lambda conn: conn.execute("DELETE FROM paused_queues WHERE name = ?", (queue,))
        )
        self._bell.ring()

    def paused_queues(self) -> list[str]:
        rows = self._db.read_all("list paused queues", "SELECT name FROM paused_queues ORDER BY name", ())
        return [str(name) for (name,) in rows]

    def held_by_dead(self, limit: int = 100) -> tuple[int, list[tuple[str, Work]]]:
        def run(conn: sqlite3.Connection) -> tuple[int, list[tuple[str, Work]]]:
            now = time.time()
            count = int(
                conn.execute(f"SELECT count(*) FROM jobs WHERE {_HELD_BY_DEAD}", (now,)).fetchone()[0]
            )
            rows = conn.execute(
                f"SELECT owner, queue, payload FROM jobs WHERE {_HELD_BY_DEAD} ORDER BY owner, claimed, id LIMIT ?",
                (now, limit),
            ).fetchall()
            return count, [(str(owner), Work(str(queue), str(payload))) for owner, queue, payload in rows]

        return self._db.read("list jobs held by dead processes", run)

    def info(self) -> dict[str, str]:
        def run(conn: sqlite3.Connection) -> tuple[int, int, int]:
            return (
                int(conn.execute("PRAGMA page_count").fetchone()[0]),
                int(conn.execute("PRAGMA page_size").fetchone()[0]),
                int(conn.execute("PRAGMA freelist_count").fetchone()[0]),
            )

        pages, page_size, free = self._db.read("read the file's size", run)
        return {
            "store": "sqlite",
            "path": os.path.abspath(self.path),
            "size_bytes": str(pages * page_size),
            "page_count": str(pages),
            "page_size": str(page_size),
            "free_pages": str(free),
            "sqlite_version": sqlite3.sqlite_version,
        }

    # ---- records -------------------------------------------------------------------------------
    def put_record(self, key: str, value: str, ttl: float) -> None:
        now = time.time()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_PUT_RECORD, (key, value, now + ttl))
            conn.execute(_FORGET_EXPIRED_RECORDS, (now,))

        self._db.write("keep a record", run)

    def get_record(self, key: str) -> str | None:
        rows = self._db.read_all("read a record", _GET_RECORD, (key, time.time()))
        return str(rows[0][0]) if rows else None

    # ---- lifecycle -------------------------------------------------------------------------------
    def ping(self) -> float:
        started = time.perf_counter()
        self._db.read_all("reach the store", "SELECT 1", ())
        return time.perf_counter() - started

    def close(self) -> None:
        self._db.close()
        pid, bell = self._bell_of
        if pid == os.getpid() and not self._bell_released:
            self._bell_released = True
            bell.release()  # the last store on the file in this process stops listening for wake-ups


_ANYTHING_TO_RECOVER = (
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM processes WHERE expires_at <= ?) OR EXISTS (SELECT 1 FROM jobs"
    " WHERE owner IS NOT NULL AND owner NOT IN (SELECT identity FROM processes WHERE expires_at > ?))"
)
# The jobs to acknowledge travel as one JSON array of [queue, payload] pairs, so every batch size
# runs the same prepared statement: a VALUES list per size filled the statement cache with large
# statements (over 1 MB for the acknowledger's connection) and compiled a new one for most batches.
_ACK = (
    "DELETE FROM jobs WHERE id IN (SELECT min(id) FROM jobs WHERE owner = ? AND (queue, payload) IN"
    " (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
    " GROUP BY queue, payload) RETURNING queue, payload"
)
_ACK_ONE = (
    "DELETE FROM jobs WHERE id = (SELECT min(id) FROM jobs WHERE owner = ? AND queue = ? AND payload = ?)"
    " RETURNING queue, payload"
)
_COUNT_PENDING = "SELECT count(*) FROM jobs WHERE queue = ? AND owner IS NULL"
_CLAIM = (
    "UPDATE jobs SET owner = ?, claimed = ? WHERE id IN (SELECT id FROM jobs WHERE queue = ? AND owner IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE name = ?) ORDER BY id LIMIT ?) RETURNING id, payload"
)
_HELD_BY_DEAD = "owner IS NOT NULL AND owner NOT IN (SELECT identity FROM processes WHERE expires_at > ?)"
_PUT_RECORD = "INSERT OR REPLACE INTO records (key, value, expires_at) VALUES (?, ?, ?)"
_GET_RECORD = "SELECT value FROM records WHERE key = ? AND expires_at > ?"
# each write forgets a few expired records, so the table stays near its live size without a sweeper
_FORGET_EXPIRED_RECORDS = "DELETE FROM records WHERE key IN (SELECT key FROM records WHERE expires_at <= ? ORDER BY expires_at LIMIT 10)"


def _claim(conn: sqlite3.Connection, identity: str, names: list[str], limit: int) -> list[Work]:
    """Give identity up to limit pending jobs, draining each queue in order before the next."""
    taken: list[Work] = []
    # Numbering each statement's claim keeps in_progress in fetch order, as a Redis list would.
    claimed = int(
        conn.execute("SELECT coalesce(max(claimed), 0) FROM jobs WHERE owner = ?", (identity,)).fetchone()[0]
    )
    for queue in names:
        claimed += 1
        # the paused check is part of the claim statement, so a queue paused before it gives nothing
        rows = conn.execute(_CLAIM, (identity, claimed, queue, queue, limit - len(taken))).fetchall()
        rows.sort()  # RETURNING gives no order; the queue's order is by id
        taken.extend(Work(queue, str(payload)) for _, payload in rows)
        if len(taken) >= limit:
            break
    return taken


def _to_front(conn: sqlite3.Connection, job_id: int, queue: str) -> None:
    """Make a job pending again and the next of its queue to be fetched."""
    conn.execute(
        "UPDATE jobs SET owner = NULL, claimed = NULL, id = (SELECT min(id) FROM jobs) - 1 WHERE id = ?",
        (job_id,),
    )
    conn.execute("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", (queue,))
