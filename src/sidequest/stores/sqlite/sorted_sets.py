"""Sidekiq's sorted sets (schedule, retry, dead) as rows of one table, ordered by (score, payload).

The order matches a Redis ZSET's: by score, then by member bytes, which is what SQLite's BINARY
collation gives for UTF-8 text. Moving due entries to their queues happens in one transaction, so
two pollers never move the same entry twice.

Every set's size lives in ``set_sizes`` (no row: 0), changed by every write to the set in the
same transaction (``_add_entries``, ``_resize``), so a size is one row read: counting reads the
set's rows, payloads included, and the dashboard shows three set sizes on every page, while kill,
for every job that dies, trims the dead set by its size. Every write to ``sorted_sets`` must go
through this module (``add_entries`` for other modules) and keep the size. (Triggers on sorted_sets
would keep it too, but they made scheduling twice as slow; one statement per transaction costs next
to nothing; see docs/benchmarks.md.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from sidequest.payload import queue_of, stamp_enqueued_at
from sidequest.stores.base import search_texts, unreadable_entry
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
        rows = [(float(score), payload) for score, payload in items]

        def run(conn: sqlite3.Connection) -> None:
            _resize(conn, name, _add_entries(conn, name, rows))

        self._db.write(what, run)

    def promote_due(self, name: str, now: float, limit: int = 100) -> int:
        def run(conn: sqlite3.Connection) -> int:
            due = conn.execute(
                "SELECT score, payload FROM sorted_sets WHERE name = ? AND score <= ? ORDER BY score, payload LIMIT ?",
                (name, now, limit),
            ).fetchall()
            removed = 0
            for score, payload in due:
                removed += conn.execute(
                    "DELETE FROM sorted_sets WHERE name = ? AND score = ? AND payload = ?",
                    (name, score, payload),
                ).rowcount
                queue = queue_of(payload, "")
                if queue:
                    conn.execute("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", (queue,))
                    conn.execute(
                        "INSERT INTO jobs (queue, payload) VALUES (?, ?)",
                        (queue, stamp_enqueued_at(payload, now)),
                    )
                else:  # unreadable: keep it where people look, with the reason
                    entry = unreadable_entry(payload, name, now)
                    _resize(conn, "dead", _add_entries(conn, "dead", [(now, entry)]))
            _resize(conn, name, -removed)
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
        rows = self._db.read_all(f"read the {name} set's size", _SIZE, (name,))
        return int(rows[0][0]) if rows else 0

    def set_range(
        self, name: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[float, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[float, str]]:
            size = _size(conn, name)
            window = rank_window(start, stop, lambda: size)
            if window is None or window[0] >= size:
                return []
            offset, limit = window
            limit = size - offset if limit < 0 else min(limit, size - offset)
            backwards = reverse
            if offset > size // 2:
                # OFFSET steps over every entry before the page, payloads and all: a page nearer the
                # far end is read from there (page 4,000 of 100,000 entries as fast as page 1)
                backwards, offset = not reverse, size - offset - limit
            order = "score DESC, payload DESC" if backwards else "score, payload"
            rows = conn.execute(
                f"SELECT score, payload FROM sorted_sets WHERE name = ? ORDER BY {order} LIMIT ? OFFSET ?",
                (name, limit, offset),
            ).fetchall()
            if backwards != reverse:
                rows.reverse()
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
            removed = sum(conn.execute(_REMOVE_ENTRY, (name, payload)).rowcount for payload in payloads)
            _resize(conn, name, -removed)
            return removed

        return self._db.write(f"remove jobs from the {name} set", run)

    def set_clear(self, name: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sorted_sets WHERE name = ?", (name,))
            conn.execute("DELETE FROM set_sizes WHERE name = ?", (name,))

        self._db.write(f"clear the {name} set", run)

    def set_scan(
        self, name: str, substring: str | Sequence[str], limit: int = 1000, *, also: str | Sequence[str] = ""
    ) -> list[tuple[float, str]]:
        texts, required = search_texts(substring), [text for text in search_texts(also) if text]
        if not texts:
            return []
        params: list[object] = [name]
        # SQLite tests the terms in the order written: the first turns most entries away, so one
        # text goes first; several go last, after a text that every match holds anyway
        if len(texts) == 1:
            required.insert(0, texts[0])
        conditions = [_match(text, params) for text in required]
        if len(texts) > 1 and "" not in texts:  # (an empty text matches every entry)
            conditions.append(f"({' OR '.join(_match(text, params) for text in texts)})")
        where = " AND ".join(conditions) or "1"
        rows = self._db.read_all(
            f"search the {name} set",
            f"SELECT score, payload FROM sorted_sets WHERE name = ? AND {where}"
            " ORDER BY score DESC, payload DESC LIMIT ?",
            [*params, max(limit, 0)],
        )
        return [(float(score), str(payload)) for score, payload in reversed(rows)]

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
            _resize(conn, name, -moved)
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
                    _resize(conn, name, -1)
                    _kill(conn, payload, now, keep, max_age)
                    moved += 1
            return moved

        return self._db.write(f"move jobs from the {name} set to the dead set", run)


def _kill(conn: sqlite3.Connection, payload: str, now: float, keep: int, max_age: float) -> None:
    """Add payload to the dead set at now, drop entries older than max_age and keep the newest keep."""
    added = _add_entries(conn, "dead", [(now, payload)])
    aged = conn.execute(
        "DELETE FROM sorted_sets WHERE name = 'dead' AND score <= ?", (now - max_age,)
    ).rowcount
    size = _size(conn, "dead") + added - aged
    trimmed = 0
    if size > keep:
        trimmed = conn.execute(
            "DELETE FROM sorted_sets WHERE name = 'dead' AND (score, payload) IN (SELECT score, payload"
            " FROM sorted_sets WHERE name = 'dead' ORDER BY score, payload LIMIT ?)",
            (size - keep,),
        ).rowcount
    _resize(conn, "dead", added - aged - trimmed)


_REMOVE_ENTRY = "DELETE FROM sorted_sets WHERE name = ? AND payload = ?"
_SIZE = "SELECT size FROM set_sizes WHERE name = ?"
# DO NOTHING without a target covers both keys ((name, score, payload) and (name, payload)), while a
# NULL score (a NaN) still fails loudly as the NOT NULL it breaks
_INSERT_NEW = "INSERT INTO sorted_sets (name, score, payload) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_MOVE_ENTRY = "UPDATE sorted_sets SET score = ? WHERE name = ? AND payload = ? AND score <> ?"


def _add_entries(conn: sqlite3.Connection, name: str, items: Sequence[tuple[float, str]]) -> int:
    """ZADD: insert items, move the ones already there to their new score; returns how many are new.

    Inserting first tells new from re-added entries (an upsert counts both as changed); the second
    pass runs only when something was already there, which new schedules and retries never are.
    Within one call the last score of a payload wins, as in ZADD.
    """
    added = conn.executemany(_INSERT_NEW, [(name, score, payload) for score, payload in items]).rowcount
    if added < len(items):
        conn.executemany(_MOVE_ENTRY, [(score, name, payload, score) for score, payload in items])
    return max(added, 0)


#: LIKE refuses patterns over 50,000 bytes (SQLITE_MAX_LIKE_PATTERN_LENGTH); longer needles skip it.
LIKE_NEEDLE_MAX = 10_000
# LIKE runs first because it rejects a 600-byte payload in about a third of instr's time (it skips
# to the needle's first character), searching 100,000 entries in ~40 ms instead of ~55; it ignores
# ASCII case, so instr then keeps the exact matches.
_MATCH = "(payload LIKE ? ESCAPE '\\' AND instr(payload, ?) > 0)"
_MATCH_EXACT = "instr(payload, ?) > 0"


def _match(text: str, params: list[object]) -> str:
    """The condition for payloads containing text; appends its parameters to params."""
    if len(text) > LIKE_NEEDLE_MAX:
        params.append(text)
        return _MATCH_EXACT
    params += [_like_pattern(text), text]
    return _MATCH


def _like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def add_entries(conn: sqlite3.Connection, name: str, items: Sequence[tuple[float, str]]) -> None:
    """ZADD inside the caller's write transaction, keeping the set's size (for writers outside this module)."""
    _resize(conn, name, _add_entries(conn, name, items))


def _size(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(_SIZE, (name,)).fetchone()
    return 0 if row is None else int(row[0])


def _resize(conn: sqlite3.Connection, name: str, change: int) -> None:
    """Add change to the set's stored size, in the transaction that changed the set."""
    if change:
        conn.execute(_RESIZE, (name, change))


_RESIZE = "INSERT INTO set_sizes (name, size) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET size = size + excluded.size"


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
