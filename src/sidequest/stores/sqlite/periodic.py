"""Periodic schedules and unique-job locks in the SQLite file (see base.Store for the contract).

Each method is one ``BEGIN IMMEDIATE`` transaction, which SQLite serialises across processes: a tick
claim and the push of its job commit together or not at all, so a crash between them cannot lose the
tick, and two processes never both claim it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from sidequest._time import utc_day
from sidequest.stores.base import PeriodicState
from sidequest.stores.sqlite.bell import Bell
from sidequest.stores.sqlite.database import Database


class PeriodicSQLite:
    """The periodic and unique-lock part of SQLiteStore (mixed into it)."""

    _db: Database

    @property
    def _bell(self) -> Bell:
        raise NotImplementedError

    def periodic_sync(self, definitions: Mapping[str, str], now: float) -> list[str]:
        wanted = dict(definitions)

        def run(conn: sqlite3.Connection) -> list[str]:
            stored = [str(name) for (name,) in conn.execute("SELECT name FROM periodic ORDER BY name")]
            removed = [name for name in stored if name not in wanted]
            conn.executemany("DELETE FROM periodic WHERE name = ?", [(name,) for name in removed])
            conn.executemany(
                "INSERT INTO periodic (name, definition, paused, last_tick) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
                [(name, definition, now) for name, definition in wanted.items()],
            )
            return removed

        return self._db.write("store periodic schedules", run)

    def periodic_claim(self, name: str, tick: float, queue: str, payload: str, jid: str, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            claimed = conn.execute(
                "UPDATE periodic SET last_tick = ?, last_jid = ?, last_enqueued_at = ?, last_outcome = NULL,"
                " last_outcome_at = NULL WHERE name = ? AND paused = 0 AND (last_tick IS NULL OR last_tick < ?)",
                (tick, jid, now, name, tick),
            ).rowcount
            if claimed:
                _push(conn, queue, payload)
            return bool(claimed)

        taken = self._db.write("claim a periodic tick", run)
        if taken:
            self._bell.ring()
        return taken

    def periodic_enqueue_now(self, name: str, queue: str, payload: str, jid: str, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            found = conn.execute(
                "UPDATE periodic SET last_jid = ?, last_enqueued_at = ?, last_outcome = NULL, last_outcome_at = NULL"
                " WHERE name = ?",
                (jid, now, name),
            ).rowcount
            if found:
                _push(conn, queue, payload)
            return bool(found)

        pushed = self._db.write("enqueue a periodic job now", run)
        if pushed:
            self._bell.ring()
        return pushed

    def periodic_pause(self, name: str, paused: bool, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if paused:
                sql, params = "UPDATE periodic SET paused = 1 WHERE name = ?", (name,)
            else:
                sql = "UPDATE periodic SET paused = 0, last_tick = max(coalesce(last_tick, ?), ?) WHERE name = ?"
                params = (now, now, name)  # type: ignore[assignment]
            return bool(conn.execute(sql, params).rowcount)

        return self._db.write("pause or resume a periodic schedule", run)

    def periodic_states(self) -> list[PeriodicState]:
        rows = self._db.read_all(
            "list periodic schedules",
            "SELECT name, definition, paused, last_tick, last_jid, last_enqueued_at, last_outcome, last_outcome_at"
            " FROM periodic ORDER BY name",
            (),
        )
        return [PeriodicState(str(n), str(d), bool(p), t, j, e, o, oa) for n, d, p, t, j, e, o, oa in rows]

    def periodic_outcome(self, name: str, jid: str, outcome: str, at: float) -> None:
        self._db.write(
            "record a periodic job's outcome",
            lambda conn: conn.execute(
                "UPDATE periodic SET last_outcome = ?, last_outcome_at = ?, last_jid = coalesce(last_jid, ?)"
                " WHERE name = ?",
                (outcome, at, jid, name),
            ),
        )

    def unique_lock(self, key: str, owner: str, ttl: float, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return bool(
                conn.execute(
                    "INSERT INTO unique_locks (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                    " SET owner = excluded.owner, expires_at = excluded.expires_at WHERE unique_locks.expires_at <= ?",
                    (key, owner, now + ttl, now),
                ).rowcount
            )

        return self._db.write("take a unique-job lock", run)

    def unique_unlock(self, key: str, owner: str) -> bool:
        return self._db.write(
            "release a unique-job lock",
            lambda conn: bool(
                conn.execute("DELETE FROM unique_locks WHERE key = ? AND owner = ?", (key, owner)).rowcount
            ),
        )

    def unique_owner(self, key: str, now: float) -> str | None:
        rows = self._db.read_all(
            "read a unique-job lock",
            "SELECT owner FROM unique_locks WHERE key = ? AND expires_at > ?",
            (key, now),
        )
        return str(rows[0][0]) if rows else None

    def add_stat(self, name: str, amount: int, now: float) -> None:
        keys = [(f"stat:{name}", amount), (f"stat:{name}:{utc_day(now)}", amount)]
        self._db.write(
            "add to a counter",
            lambda conn: conn.executemany(
                "INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET value = value + excluded.value",
                keys,
            ),
        )

    def stat(self, name: str) -> int:
        rows = self._db.read_all(
            "read a counter", "SELECT value FROM counters WHERE key = ?", (f"stat:{name}",)
        )
        return int(rows[0][0]) if rows else 0


def _push(conn: sqlite3.Connection, queue: str, payload: str) -> None:
    conn.execute("INSERT OR IGNORE INTO known_queues (name) VALUES (?)", (queue,))
    conn.execute("INSERT INTO jobs (queue, payload) VALUES (?, ?)", (queue, payload))
