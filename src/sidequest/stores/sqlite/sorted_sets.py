"""Sidekiq's sorted sets (schedule, retry, dead) as rows of one table, ordered by (score, payload).

The order matches a Redis ZSET's: by score, then by member bytes, which is what SQLite's BINARY
collation gives for UTF-8 text. Moving due entries to their queues happens in one transaction, so
two pollers never move the same entry twice.

The dead set's size lives in ``set_sizes`` so that kill, which runs for every job that dies, trims
the set without counting it. When that row is there it is exact: kill keeps it so, and every other
write that may change the dead set deletes it (``_forget_size``) in the same transaction, so the next
kill counts once. (Triggers on sorted_sets would keep it too, but they made scheduling twice as
slow; see docs/benchmarks.md.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from sidequest.payload import queue_of, stamp_enqueued_at
from sidequest.stores.base import unreadable_entry
from sidequest.stores.sqlite.database import Bell, Database


class SortedSets:
    """The sorted-set part of SQLiteStore (mixed into it)."""

    _db: Database

    @property
    def _bell(self) -> Bell:
        raise NotImplementedError

    def add_to_set(self, name: str, items: Sequence[tuple[float, str]]) -> None:
        self._add_to_set(name, items, f"add jobs to the {name} set")

    def _add_to_set(self, name: str, items: Sequence[tuple[float, str]], what: str) -> None:
        if not items:
            return
        rows = [(name, float(score), payload) for score, payload in items]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(_UPSERT_ENTRY, rows)
            _forget_size(conn, name)

        self._db.write(what, run)

    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        def run(conn: sqlite3.Connection) -> int:
            due = conn.execute(
                "SELECT score, payload FROM sorted_sets WHERE name = ? AND score <= ? ORDER BY score, payload LIMIT ?",
                (name, now, limit),
            ).fetchall()
            for score, payload in due:
                conn.execute(
                    "DELETE FROM sorted_sets WHERE name = ? AND score = ? AND payload = ?",
                    (name, score, payload),
                )
                queue = queue_of(payload, "")
                if queue:
                    conn.execute("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", (queue,))
                    conn.execute(
                        "INSERT INTO jobs (queue, payload) VALUES (?, ?)",
                        (queue, stamp_enqueued_at(payload, now)),
                    )
                else:  # unreadable: keep it where people look, with the reason
                    conn.execute(_UPSERT_ENTRY, ("dead", now, unreadable_entry(payload, name, now)))
                    _forget_size(conn, "dead")
            if due:
                _forget_size(conn, name)
            return len(due)

        # Pollers in every worker call this a few times a second: look before taking the write lock.
        due_sql = "SELECT 1 FROM sorted_sets WHERE name = ? AND score <= ? LIMIT 1"
        if not self._db.read_all(f"look for due jobs in the {name} set", due_sql, (name, now)):
            return 0
        moved = self._db.write(f"move due jobs from the {name} set", run)
        if moved:
            self._bell.ring()
        return moved

    def next_due(self, names: Sequence[str]) -> float | None:
        if not names:
            return None
        marks = ",".join("?" * len(names))
        rows = self._db.read_all(
            "read due times", f"SELECT min(score) FROM sorted_sets WHERE name IN ({marks})", list(names)
        )
        return None if rows[0][0] is None else float(rows[0][0])

    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        keep = max(max_jobs - 1, 0)  # Sidekiq's rank arithmetic keeps max_jobs - 1 after adding

        self._db.write("add a job to the dead set", lambda conn: _kill(conn, payload, now, keep, max_age))

    def set_size(self, name: str) -> int:
        return int(
            self._db.read_all("count a set", "SELECT count(*) FROM sorted_sets WHERE name = ?", (name,))[0][0]
        )

    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        order = "score DESC, payload DESC" if reverse else "score, payload"

        def run(conn: sqlite3.Connection) -> list[tuple[float, str]]:
            count = "SELECT count(*) FROM sorted_sets WHERE name = ?"
            window = rank_window(start, stop, lambda: int(conn.execute(count, (name,)).fetchone()[0]))
            if window is None:
                return []
            rows = conn.execute(
                f"SELECT score, payload FROM sorted_sets WHERE name = ? ORDER BY {order} LIMIT ? OFFSET ?",
                (name, window[1], window[0]),
            ).fetchall()
            return [(float(score), str(payload)) for score, payload in rows]

        return self._db.read(f"list the {name} set", run)

    def set_by_score(self, name: str, score: float) -> list[str]:
        rows = self._db.read_all(
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
            _forget_size(conn, name)
            return sum(conn.execute(sql, (name, payload)).rowcount for payload in payloads)

        return self._db.write(f"remove jobs from the {name} set", run)

    def set_clear(self, name: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sorted_sets WHERE name = ?", (name,))
            _forget_size(conn, name)

        self._db.write(f"clear the {name} set", run)

    def set_scan(self, name: str, substring: str, limit: int = 1000) -> list[tuple[float, str]]:
        rows = self._db.read_all(
            f"search the {name} set",
            "SELECT score, payload FROM sorted_sets WHERE name = ? AND instr(payload, ?) > 0 "
            "ORDER BY score, payload LIMIT ?",
            (name, substring, limit),
        )
        return [(float(score), str(payload)) for score, payload in rows]

    # ---- operator moves (sidequest.api) ----------------------------------------------------------
    def set_enqueue(self, name: str, entries: Sequence[tuple[str, str]], now: float) -> int:
        if not entries:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            moved = 0
            for stored, replacement in entries:
                if not conn.execute(_REMOVE_ENTRY, (name, stored)).rowcount:
                    continue
                queue = queue_of(replacement, "default")
                conn.execute("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", (queue,))
                conn.execute(
                    "INSERT INTO jobs (queue, payload) VALUES (?, ?)",
                    (queue, stamp_enqueued_at(replacement, now)),
                )
                moved += 1
            if moved:
                _forget_size(conn, name)
            return moved

        moved = self._db.write(f"enqueue jobs from the {name} set", run)
        if moved:
            self._bell.ring()
        return moved

    def set_kill(self, name: str, payloads: Sequence[str], now: float, max_jobs: int, max_age: float) -> int:
        if not payloads:
            return 0
        keep = max(max_jobs - 1, 0)

        def run(conn: sqlite3.Connection) -> int:
            moved = 0
            for payload in payloads:
                if conn.execute(_REMOVE_ENTRY, (name, payload)).rowcount:
                    _forget_size(conn, name)
                    _kill(conn, payload, now, keep, max_age)
                    moved += 1
            return moved

        return self._db.write(f"move jobs from the {name} set to the dead set", run)


def _kill(conn: sqlite3.Connection, payload: str, now: float, keep: int, max_age: float) -> None:
    """Add payload to the dead set at now, drop entries older than max_age and keep the newest keep."""
    added = conn.execute(_IS_DEAD, (payload,)).fetchone() is None
    conn.execute(_UPSERT_ENTRY, ("dead", now, payload))
    aged = conn.execute(
        "DELETE FROM sorted_sets WHERE name = 'dead' AND score <= ?", (now - max_age,)
    ).rowcount
    known = conn.execute("SELECT size FROM set_sizes WHERE name = 'dead'").fetchone()
    if known is None:
        size = int(conn.execute("SELECT count(*) FROM sorted_sets WHERE name = 'dead'").fetchone()[0])
    else:
        size = int(known[0]) + added - aged
    if size > keep:
        size -= conn.execute(
            "DELETE FROM sorted_sets WHERE name = 'dead' AND (score, payload) IN (SELECT score, payload"
            " FROM sorted_sets WHERE name = 'dead' ORDER BY score, payload LIMIT ?)",
            (size - keep,),
        ).rowcount
    conn.execute(
        "INSERT INTO set_sizes (name, size) VALUES ('dead', ?) ON CONFLICT (name) DO UPDATE SET size = excluded.size",
        (size,),
    )


_IS_DEAD = "SELECT 1 FROM sorted_sets WHERE name = 'dead' AND payload = ?"
_REMOVE_ENTRY = "DELETE FROM sorted_sets WHERE name = ? AND payload = ?"


def _forget_size(conn: sqlite3.Connection, name: str) -> None:
    """Drop the stored size of a set this transaction changed outside kill (only "dead" has one)."""
    if name == "dead":
        conn.execute("DELETE FROM set_sizes WHERE name = 'dead'")


_UPSERT_ENTRY = (
    "INSERT INTO sorted_sets (name, score, payload) VALUES (?, ?, ?)"
    " ON CONFLICT (name, payload) DO UPDATE SET score = excluded.score"
)


def rank_window(start: int, stop: int, size: Callable[[], int]) -> tuple[int, int] | None:
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
