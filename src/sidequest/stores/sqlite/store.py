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
from collections.abc import Callable, Sequence
from typing import Any

from sidequest._time import utc_day
from sidequest.errors import StoreError, StoreUnavailable
from sidequest.payload import queue_of, stamp_enqueued_at
from sidequest.stores.base import Beat, BeatResult, Counters, ProcessRecord, Store, Work
from sidequest.stores.sqlite.database import Bell, Database, bell_for, parse_url

#: How often an idle fetch looks for commits from other processes. Each look is one
#: ``PRAGMA data_version``; the timed wake-up itself costs ~50-100 us of CPU on a VM, so 50 looks a
#: second keep an idle fetch near 0.5-1 % of a core while another process's push is seen within ~20 ms.
IDLE_POLL = 0.02
#: Rows per statement when a list of values becomes SQL parameters.
CHUNK = 400


class SQLiteStore(Store):
    """``sqlite:///path/to/file.db?synchronous=FULL&busy_timeout=30``: the embedded default store.

    synchronous=NORMAL (the default) with WAL survives a crash of any process but may lose the last
    commits on power loss; FULL also survives power loss at the cost of an fsync per commit.
    busy_timeout is how long, in seconds, an operation waits for another process's lock before
    StoreUnavailable.
    """

    def __init__(self, url: str, synchronous: str | None = None, busy_timeout: float | None = None) -> None:
        self.url = url
        options = parse_url(url, synchronous, busy_timeout)
        self.path = options.path
        self._db = Database(options)
        self._bell_of = (os.getpid(), bell_for(options.path))

    @property
    def _bell(self) -> Bell:
        """This process's bell for the file; a forked child must not share its parent's locks."""
        pid, bell = self._bell_of
        if pid != os.getpid():
            self._bell_of = (os.getpid(), bell_for(self.path))
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
        sql = f"SELECT 1 FROM jobs WHERE queue IN ({marks}) AND owner IS NULL LIMIT 1"
        return self._db.retry(
            lambda: self._db.connection().execute(sql, names).fetchone() is not None,
            "look for jobs",
            write=False,
        )

    def ack(self, identity: str, works: Sequence[Work]) -> int:
        if not works:
            return 0
        wanted = Counter((work.queue, work.payload) for work in works)

        def run(conn: sqlite3.Connection) -> int:
            pending = Counter(wanted)
            removed = 0
            # Each round deletes one row per distinct job, so acking a job listed twice removes two copies.
            while pending:
                keys = list(pending)
                for start in range(0, len(keys), CHUNK):
                    chunk = keys[start : start + CHUNK]
                    values = ",".join("(?, ?)" for _ in chunk)
                    deleted = conn.execute(
                        "DELETE FROM jobs WHERE id IN (SELECT min(id) FROM jobs WHERE owner = ? AND "
                        f"(queue, payload) IN (VALUES {values}) GROUP BY queue, payload) RETURNING queue, payload",
                        [identity, *(part for key in chunk for part in key)],
                    ).fetchall()
                    found = {(str(q), str(p)) for q, p in deleted}
                    removed += len(deleted)
                    for key in chunk:
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

    def recover(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            now = time.time()
            _expire_processes(conn, now)
            orphans = conn.execute(
                "SELECT id, queue FROM jobs WHERE owner IS NOT NULL AND owner NOT IN "
                "(SELECT identity FROM processes WHERE expires_at > ?) ORDER BY owner, claimed, id",
                (now,),
            ).fetchall()
            for job_id, queue in orphans:
                _to_front(conn, int(job_id), str(queue))
            return len(orphans)

        moved = self._db.write("recover jobs of dead processes", run)
        if moved:
            self._bell.ring()
        return moved

    def queue_names(self) -> list[str]:
        rows = self._read_all("list queues", "SELECT name FROM known_queues ORDER BY name", ())
        return [str(name) for (name,) in rows]

    def queue_size(self, queue: str) -> int:
        rows = self._read_all(
            "count a queue", "SELECT count(*) FROM jobs WHERE queue = ? AND owner IS NULL", (queue,)
        )
        return int(rows[0][0])

    def queue_range(self, queue: str, start: int, stop: int) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            window = _window(start, stop, lambda: self._count_pending(conn, queue))
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
        return int(
            conn.execute("SELECT count(*) FROM jobs WHERE queue = ? AND owner IS NULL", (queue,)).fetchone()[
                0
            ]
        )

    def queue_oldest(self, queue: str) -> str | None:
        rows = self._read_all(
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

    # ---- sorted sets: schedule, retry, dead -------------------------------------------------------
    def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None:
        self._add_to_set(name, items, f"add jobs to the {name} set")

    def _add_to_set(self, name: str, items: Sequence[tuple[float, str]], what: str) -> None:
        if not items:
            return
        rows = [(name, float(score), payload) for score, payload in items]
        self._db.write(what, lambda conn: conn.executemany(_UPSERT_ENTRY, rows))

    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        def run(conn: sqlite3.Connection) -> int:
            due = conn.execute(
                "SELECT rowid, payload FROM sorted_sets WHERE name = ? AND score <= ? ORDER BY score, payload LIMIT ?",
                (name, now, limit),
            ).fetchall()
            for rowid, payload in due:
                conn.execute("DELETE FROM sorted_sets WHERE rowid = ?", (rowid,))
                queue = queue_of(payload, "")
                if queue:
                    conn.execute("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", (queue,))
                    conn.execute(
                        "INSERT INTO jobs (queue, payload) VALUES (?, ?)",
                        (queue, stamp_enqueued_at(payload, now)),
                    )
                else:
                    conn.execute(
                        _UPSERT_ENTRY, ("dead", now, payload)
                    )  # unreadable: keep it where people look
            return len(due)

        moved = self._db.write(f"move due jobs from the {name} set", run)
        if moved:
            self._bell.ring()
        return moved

    def next_due(self, names: Sequence[str]) -> float | None:
        if not names:
            return None
        marks = ",".join("?" * len(names))
        rows = self._read_all(
            "read due times", f"SELECT min(score) FROM sorted_sets WHERE name IN ({marks})", list(names)
        )
        return None if rows[0][0] is None else float(rows[0][0])

    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        keep = max(max_jobs - 1, 0)  # Sidekiq's rank arithmetic keeps max_jobs - 1 after adding

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_UPSERT_ENTRY, ("dead", now, payload))
            conn.execute("DELETE FROM sorted_sets WHERE name = 'dead' AND score <= ?", (now - max_age,))
            size = int(conn.execute("SELECT count(*) FROM sorted_sets WHERE name = 'dead'").fetchone()[0])
            if size > keep:
                conn.execute(
                    "DELETE FROM sorted_sets WHERE rowid IN (SELECT rowid FROM sorted_sets WHERE name = 'dead' "
                    "ORDER BY score, payload LIMIT ?)",
                    (size - keep,),
                )

        self._db.write("add a job to the dead set", run)

    def set_size(self, name: str) -> int:
        return int(
            self._read_all("count a set", "SELECT count(*) FROM sorted_sets WHERE name = ?", (name,))[0][0]
        )

    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        order = "score DESC, payload DESC" if reverse else "score, payload"

        def run(conn: sqlite3.Connection) -> list[tuple[float, str]]:
            count = "SELECT count(*) FROM sorted_sets WHERE name = ?"
            window = _window(start, stop, lambda: int(conn.execute(count, (name,)).fetchone()[0]))
            if window is None:
                return []
            rows = conn.execute(
                f"SELECT score, payload FROM sorted_sets WHERE name = ? ORDER BY {order} LIMIT ? OFFSET ?",
                (name, window[1], window[0]),
            ).fetchall()
            return [(float(score), str(payload)) for score, payload in rows]

        return self._db.read(f"list the {name} set", run)

    def set_by_score(self, name: str, score: float) -> list[str]:
        rows = self._read_all(
            f"read the {name} set",
            "SELECT payload FROM sorted_sets WHERE name = ? AND score = ? ORDER BY payload",
            (name, float(score)),
        )
        return [str(payload) for (payload,) in rows]

    def set_remove(self, name: str, payloads: Sequence[str]) -> int:
        if not payloads:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            sql = "DELETE FROM sorted_sets WHERE name = ? AND payload = ?"
            return sum(conn.execute(sql, (name, payload)).rowcount for payload in payloads)

        return self._db.write(f"remove jobs from the {name} set", run)

    def set_clear(self, name: str) -> None:
        self._db.write(
            f"clear the {name} set",
            lambda conn: conn.execute("DELETE FROM sorted_sets WHERE name = ?", (name,)),
        )

    def set_scan(self, name: str, substring: str, limit: int = 1000) -> list[tuple[float, str]]:
        rows = self._read_all(
            f"search the {name} set",
            "SELECT score, payload FROM sorted_sets WHERE name = ? AND instr(payload, ?) > 0 "
            "ORDER BY score, payload LIMIT ?",
            (name, substring, limit),
        )
        return [(float(score), str(payload)) for score, payload in rows]

    # ---- processes -------------------------------------------------------------------------------
    def beat(self, beat: Beat) -> BeatResult:
        def run(conn: sqlite3.Connection) -> BeatResult:
            now = time.time()
            existed = (
                conn.execute(
                    "SELECT 1 FROM processes WHERE identity = ? AND expires_at > ?", (beat.identity, now)
                ).fetchone()
                is not None
            )
            conn.execute(
                "INSERT INTO processes (identity, info, busy, beat, quiet, rss_kb, rtt_us, concurrency, expires_at,"
                " registered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (identity) DO UPDATE SET"
                " info = excluded.info, busy = excluded.busy, beat = excluded.beat, quiet = excluded.quiet,"
                " rss_kb = excluded.rss_kb, rtt_us = excluded.rtt_us, concurrency = excluded.concurrency,"
                " expires_at = excluded.expires_at, registered = 1",
                (
                    beat.identity,
                    beat.info,
                    beat.busy,
                    beat.beat,
                    int(beat.quiet),
                    beat.rss_kb,
                    beat.rtt_us,
                    beat.concurrency,
                    now + beat.ttl,
                ),
            )
            conn.execute("DELETE FROM work WHERE identity = ?", (beat.identity,))
            conn.executemany(
                "INSERT INTO work (identity, tid, value) VALUES (?, ?, ?)",
                [(beat.identity, tid, value) for tid, value in beat.work.items()],
            )
            if beat.processed or beat.failed:
                _add_counts(conn, beat.processed, beat.failed, beat.beat)
            popped = conn.execute(
                "DELETE FROM signals WHERE id = (SELECT min(id) FROM signals WHERE identity = ?) RETURNING signal",
                (beat.identity,),
            ).fetchall()
            return BeatResult(existed, [str(signal) for (signal,) in popped])

        return self._db.write("record a heartbeat", run)

    def remove_process(self, identity: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            # The record itself stays until it expires, as Sidekiq's hash key does.
            conn.execute("UPDATE processes SET registered = 0 WHERE identity = ?", (identity,))
            conn.execute("DELETE FROM work WHERE identity = ?", (identity,))

        self._db.write("remove a process", run)

    def processes(self) -> list[ProcessRecord]:
        rows = self._read_all(
            "list processes",
            "SELECT identity, info, busy, beat, quiet, rss_kb, rtt_us, concurrency FROM processes"
            " WHERE registered = 1 AND expires_at > ? ORDER BY identity",
            (time.time(),),
        )
        return [
            ProcessRecord(
                str(identity),
                json.loads(info),
                int(busy),
                float(beat),
                bool(quiet),
                int(rss_kb),
                int(rtt_us),
                int(concurrency),
            )
            for identity, info, busy, beat, quiet, rss_kb, rtt_us, concurrency in rows
        ]

    def work(self) -> list[tuple[str, str, str]]:
        rows = self._read_all(
            "list running jobs",
            "SELECT work.identity, work.tid, work.value FROM work JOIN processes USING (identity)"
            " WHERE processes.registered = 1 AND processes.expires_at > ? ORDER BY work.identity, work.rowid",
            (time.time(),),
        )
        return [(str(identity), str(tid), str(value)) for identity, tid, value in rows]

    def signal(self, identity: str, signal: str) -> None:
        self._db.write(
            "signal a process",
            lambda conn: conn.execute(
                "INSERT INTO signals (identity, signal) VALUES (?, ?)", (identity, signal)
            ),
        )

    # ---- counters --------------------------------------------------------------------------------
    def add_counts(self, processed: int, failed: int, now: float) -> None:
        if processed or failed:
            self._db.write("add to the counters", lambda conn: _add_counts(conn, processed, failed, now))

    def counters(self) -> Counters:
        rows = dict(
            self._read_all(
                "read counters", "SELECT key, value FROM counters WHERE key IN ('processed', 'failed')", ()
            )
        )
        return Counters(int(rows.get("processed", 0)), int(rows.get("failed", 0)))

    def history(self, days: int, now: float) -> dict[str, tuple[int, int]]:
        dates = [utc_day(now - offset * 86400) for offset in range(days)]
        keys = [f"{kind}:{day}" for day in dates for kind in ("processed", "failed")]
        values: dict[str, int] = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            values.update(
                self._read_all(
                    "read daily stats", f"SELECT key, value FROM counters WHERE key IN ({marks})", chunk
                )
            )
        return {
            day: (int(values.get(f"processed:{day}", 0)), int(values.get(f"failed:{day}", 0)))
            for day in dates
        }

    def reset_counters(self) -> None:
        self._db.write(
            "reset counters", lambda conn: conn.execute("DELETE FROM counters WHERE instr(key, ':') = 0")
        )

    # ---- lifecycle -------------------------------------------------------------------------------
    def ping(self) -> float:
        started = time.perf_counter()
        self._read_all("reach the store", "SELECT 1", ())
        return time.perf_counter() - started

    def close(self) -> None:
        self._db.close()

    def wait_until_available(self, deadline: float) -> None:
        delay = 0.05
        while True:
            try:
                self.ping()
                return
            except StoreError as exc:
                if time.time() >= deadline:
                    raise StoreUnavailable(
                        f"the SQLite store {self.path} did not become available: {exc}"
                    ) from exc
            time.sleep(min(delay, max(deadline - time.time(), 0.0)))
            delay = min(delay * 2, 1.0)

    # ---- helpers ---------------------------------------------------------------------------------
    def _read_all(self, what: str, sql: str, params: Sequence[object]) -> list[Any]:
        return self._db.read(what, lambda conn: conn.execute(sql, params).fetchall())


_UPSERT_ENTRY = (
    "INSERT INTO sorted_sets (name, score, payload) VALUES (?, ?, ?)"
    " ON CONFLICT (name, payload) DO UPDATE SET score = excluded.score"
)


def _claim(conn: sqlite3.Connection, identity: str, names: list[str], limit: int) -> list[Work]:
    """Give identity up to limit pending jobs, draining each queue in order before the next."""
    taken: list[Work] = []
    # Numbering each statement's claim keeps in_progress in fetch order, as a Redis list would.
    claimed = int(
        conn.execute("SELECT coalesce(max(claimed), 0) FROM jobs WHERE owner = ?", (identity,)).fetchone()[0]
    )
    for queue in names:
        claimed += 1
        rows = conn.execute(
            "UPDATE jobs SET owner = ?, claimed = ? WHERE id IN (SELECT id FROM jobs WHERE queue = ? AND owner IS NULL"
            " ORDER BY id LIMIT ?) RETURNING id, payload",
            (identity, claimed, queue, limit - len(taken)),
        ).fetchall()
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


def _expire_processes(conn: sqlite3.Connection, now: float) -> None:
    conn.execute(
        "DELETE FROM work WHERE identity IN (SELECT identity FROM processes WHERE expires_at <= ?)", (now,)
    )
    conn.execute("DELETE FROM processes WHERE expires_at <= ?", (now,))


def _add_counts(conn: sqlite3.Connection, processed: int, failed: int, now: float) -> None:
    day = utc_day(now)
    rows = [
        (key, amount)
        for kind, amount in (("processed", processed), ("failed", failed))
        if amount
        for key in (kind, f"{kind}:{day}")
    ]
    conn.executemany(
        "INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
        rows,
    )


def _window(start: int, stop: int, size: Callable[[], int]) -> tuple[int, int] | None:
    """(offset, limit) for Redis-style inclusive ranges where negative indexes count from the end.

    size is called only when a negative index needs the length. Returns None for an empty range.
    """
    if start >= 0 and stop == -1:
        return start, -1
    if start >= 0 and stop >= 0:
        return (start, stop - start + 1) if stop >= start else None
    length = size()
    first = max(start + length, 0) if start < 0 else start
    last = stop + length if stop < 0 else min(stop, length - 1)
    return (first, last - first + 1) if last >= first else None
