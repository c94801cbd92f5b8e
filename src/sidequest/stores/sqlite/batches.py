"""SQLiteStore's batches: one row per batch with its counters, one row per pending member.

A member's row goes when it succeeds, so the table holds only what is still pending (bounded by the
batch's unfinished jobs). The counters on the batch row change in the same transaction as the member
rows, so deciding whether an event is due reads one row instead of counting members; firing writes the
callbacks into ``sorted_sets`` ("schedule") in that transaction too (see stores/batches.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence

from sidequest.stores.batches import (
    EVENTS,
    SUCCESS_OFFSET,
    BatchState,
    BatchStore,
    Outcome,
    Report,
    callbacks_by_event,
)
from sidequest.stores.sqlite.database import Database
from sidequest.stores.sqlite.sorted_sets import add_entries


def create_tables(conn: sqlite3.Connection) -> None:
    """The batch tables (schema migration; see schema.py)."""
    conn.execute(
        "CREATE TABLE batches (bid TEXT PRIMARY KEY, meta TEXT NOT NULL, created_at REAL NOT NULL,"
        " callbacks TEXT NOT NULL, success_ttl REAL NOT NULL, expires_at REAL NOT NULL,"
        " total INTEGER NOT NULL DEFAULT 0, pending INTEGER NOT NULL DEFAULT 0,"
        " unrun INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,"
        " dead INTEGER NOT NULL DEFAULT 0, fired TEXT NOT NULL DEFAULT '{}') WITHOUT ROWID"
    )
    conn.execute("CREATE INDEX batches_created ON batches (created_at)")
    # unrun: not run once yet; error: the last failure (NULL when none); dead: it died; early: it
    # reported before it was added (error NULL: it succeeded), so batch_add applies that outcome and
    # the batch's counters do not count it yet
    conn.execute(
        "CREATE TABLE batch_members (bid TEXT NOT NULL, member TEXT NOT NULL, unrun INTEGER NOT NULL,"
        " error TEXT, dead INTEGER NOT NULL DEFAULT 0, early INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (bid, member)) WITHOUT ROWID"
    )


class Batches(BatchStore):
    """The batch part of SQLiteStore (mixed into it)."""

    _db: Database

    def batch_create(
        self,
        bid: str,
        meta: str,
        callbacks: Sequence[tuple[str, str]],
        now: float,
        ttl: float,
        success_ttl: float,
    ) -> bool:
        wall = time.time()
        grouped = json.dumps(callbacks_by_event(callbacks))

        def run(conn: sqlite3.Connection) -> bool:
            _forget_expired(conn, wall)
            cursor = conn.execute(
                "INSERT OR IGNORE INTO batches (bid, meta, created_at, callbacks, success_ttl, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (bid, meta, now, grouped, success_ttl, wall + ttl),
            )
            return cursor.rowcount == 1

        return self._db.write("create a batch", run)

    def batch_add(self, bid: str, members: Sequence[str], *, counted: bool = True) -> int | None:
        wall = time.time()

        def run(conn: sqlite3.Connection) -> int | None:
            if not _exists(conn, bid, wall):
                return None
            added = pending = unrun = failures = dead = 0
            for member in dict.fromkeys(members):
                row = conn.execute(
                    "SELECT early, error, dead FROM batch_members WHERE bid = ? AND member = ?", (bid, member)
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO batch_members (bid, member, unrun) VALUES (?, ?, 1)", (bid, member)
                    )
                    added, pending, unrun = added + 1, pending + 1, unrun + 1
                elif row[0] and row[1] is None:  # succeeded before it was added
                    conn.execute("DELETE FROM batch_members WHERE bid = ? AND member = ?", (bid, member))
                    added += 1
                elif row[0]:  # failed (or died) before it was added
                    conn.execute(
                        "UPDATE batch_members SET early = 0, unrun = 0 WHERE bid = ? AND member = ?",
                        (bid, member),
                    )
                    added, pending, failures, dead = added + 1, pending + 1, failures + 1, dead + row[2]
            conn.execute(
                "UPDATE batches SET pending = pending + ?, unrun = unrun + ?, total = total + ?,"
                " failures = failures + ?, dead = dead + ? WHERE bid = ?",
                (pending, unrun, added if counted else 0, failures, dead, bid),
            )
            return added

        return self._db.write("add jobs to a batch", run)

    def batch_done(self, bid: str, member: str, outcome: Outcome, error: str, now: float) -> list[str]:
        return self.batch_done_many([Report(bid, member, outcome, error, now)])[0]

    def batch_done_many(self, reports: Sequence[Report]) -> list[list[str]]:
        """All reports in one transaction; each batch's events are checked once, after its reports."""
        if not reports:
            return []
        wall = time.time()
        now = max(report.now for report in reports)

        def run(conn: sqlite3.Connection) -> list[list[str]]:
            results: list[list[str]] = [[] for _ in reports]
            live: dict[str, bool] = {}
            last: dict[str, int] = {}
            for index, (bid, member, outcome, error, _) in enumerate(reports):
                if bid not in live:
                    live[bid] = _exists(conn, bid, wall)
                if live[bid] and _apply(conn, bid, member, outcome, error):
                    last[bid] = index
            for bid, index in last.items():
                results[index] = _fire_due(conn, bid, now, wall)
            return results

        return self._db.write("finish batch jobs", run)

    def batch_state(self, bid: str, failed_limit: int = 100) -> BatchState | None:
        wall = time.time()

        def run(conn: sqlite3.Connection) -> BatchState | None:
            row = conn.execute(
                "SELECT meta, created_at, total, pending, unrun, failures, dead, fired, expires_at"
                " FROM batches WHERE bid = ? AND expires_at > ?",
                (bid, wall),
            ).fetchone()
            if row is None:
                return None
            failed = conn.execute(
                "SELECT member, error FROM batch_members WHERE bid = ? AND error IS NOT NULL AND early = 0"
                " ORDER BY member LIMIT ?",
                (bid, failed_limit),
            ).fetchall()
            meta, created_at, total, pending, unrun, failures, dead, fired, expires_at = row
            return BatchState(
                bid=bid,
                meta=meta,
                created_at=created_at,
                total=total,
                pending=pending,
                unrun=unrun,
                failures=failures,
                dead=dead,
                failed={str(m): str(e) for m, e in failed},
                fired=json.loads(fired),
                expires_at=expires_at,
            )

        return self._db.read("read a batch", run)

    def batch_members(self, bid: str, limit: int = 100) -> list[str]:
        rows = self._db.read_all(
            "list a batch's jobs",
            "SELECT member FROM batch_members WHERE bid = ? AND early = 0"
            " AND bid IN (SELECT bid FROM batches WHERE expires_at > ?)"
            " ORDER BY member LIMIT ?",
            (bid, time.time(), limit),
        )
        return [str(row[0]) for row in rows]

    def batch_ids(self, limit: int = 100) -> list[str]:
        rows = self._db.read_all(
            "list batches",
            "SELECT bid FROM batches WHERE expires_at > ? ORDER BY created_at DESC, bid DESC LIMIT ?",
            (time.time(), limit),
        )
        return [str(row[0]) for row in rows]


def _exists(conn: sqlite3.Connection, bid: str, wall: float) -> bool:
    found = conn.execute("SELECT 1 FROM batches WHERE bid = ? AND expires_at > ?", (bid, wall)).fetchone()
    return found is not None


def _apply(conn: sqlite3.Connection, bid: str, member: str, outcome: Outcome, error: str) -> bool:
    """Record one outcome; True when it changed the batch's members (so events may be due)."""
    row = conn.execute(
        "SELECT unrun, error, dead, early FROM batch_members WHERE bid = ? AND member = ?", (bid, member)
    ).fetchone()
    if row is None or row[3]:
        _early(conn, bid, member, outcome, error, row)
        return False
    _record(conn, bid, member, outcome, error, row[:3])
    return True


def _early(
    conn: sqlite3.Connection, bid: str, member: str, outcome: Outcome, error: str, row: tuple[int, ...] | None
) -> None:
    """Keep the outcome of a member not added yet, for batch_add (see stores/batches.py)."""
    if outcome == "success":
        conn.execute(
            "INSERT OR REPLACE INTO batch_members (bid, member, unrun, error, dead, early) VALUES (?, ?, 0, NULL, 0, 1)",
            (bid, member),
        )
    elif outcome in ("failure", "death") and not (row is not None and row[1] is None):
        died = 1 if outcome == "death" or (row is not None and row[2]) else 0
        conn.execute(
            "INSERT OR REPLACE INTO batch_members (bid, member, unrun, error, dead, early) VALUES (?, ?, 0, ?, ?, 1)",
            (bid, member, error, died),
        )


def _record(
    conn: sqlite3.Connection,
    bid: str,
    member: str,
    outcome: Outcome,
    error: str,
    row: tuple[int, str | None, int],
) -> None:
    """Apply one outcome to a pending member's row and the batch's counters."""
    unrun, old_error, dead = row
    if outcome == "success":
        conn.execute("DELETE FROM batch_members WHERE bid = ? AND member = ?", (bid, member))
        conn.execute(
            "UPDATE batches SET pending = pending - 1, unrun = unrun - ?, failures = failures - ? WHERE bid = ?",
            (unrun, 0 if old_error is None else 1, bid),
        )
        return
    if outcome == "ran":
        conn.execute("UPDATE batch_members SET unrun = 0 WHERE bid = ? AND member = ?", (bid, member))
        conn.execute("UPDATE batches SET unrun = unrun - ? WHERE bid = ?", (unrun, bid))
        return
    died = 1 if outcome == "death" and not dead else 0
    conn.execute(
        "UPDATE batch_members SET unrun = 0, error = ?, dead = dead + ? WHERE bid = ? AND member = ?",
        (error, died, bid, member),
    )
    conn.execute(
        "UPDATE batches SET unrun = unrun - ?, failures = failures + ?, dead = dead + ? WHERE bid = ?",
        (unrun, 1 if old_error is None else 0, died, bid),
    )


def _fire_due(conn: sqlite3.Connection, bid: str, now: float, wall: float) -> list[str]:
    pending, unrun, dead, fired_json, callbacks_json, success_ttl = conn.execute(
        "SELECT pending, unrun, dead, fired, callbacks, success_ttl FROM batches WHERE bid = ?", (bid,)
    ).fetchone()
    fired: dict[str, float] = json.loads(fired_json)
    due = {"death": dead > 0, "complete": unrun == 0, "success": pending == 0}
    now_fired = [event for event in EVENTS if due[event] and event not in fired]
    if not now_fired:
        return []
    callbacks: dict[str, list[str]] = json.loads(callbacks_json)
    for event in now_fired:
        fired[event] = now
        at = now + SUCCESS_OFFSET if event == "success" else now
        add_entries(conn, "schedule", [(at, payload) for payload in callbacks.get(event, [])])
    if "success" in now_fired:
        conn.execute(
            "UPDATE batches SET fired = ?, expires_at = ? WHERE bid = ?",
            (json.dumps(fired), wall + success_ttl, bid),
        )
    else:
        conn.execute("UPDATE batches SET fired = ? WHERE bid = ?", (json.dumps(fired), bid))
    return now_fired


def _forget_expired(conn: sqlite3.Connection, wall: float) -> None:
    """Each new batch forgets a few expired ones and their members, so no sweeper is needed."""
    expired = conn.execute("SELECT bid FROM batches WHERE expires_at <= ? LIMIT 5", (wall,)).fetchall()
    for (bid,) in expired:
        conn.execute("DELETE FROM batch_members WHERE bid = ?", (bid,))
        conn.execute("DELETE FROM batches WHERE bid = ?", (bid,))
