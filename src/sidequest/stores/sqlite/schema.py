"""The SQLite file's schema and how a file moves from one schema version to the next.

The version lives in ``PRAGMA user_version`` and the file is marked as ours by ``PRAGMA
application_id``, so opening some other application's database is refused instead of silently
adding tables to it. Each migration runs inside the caller's ``BEGIN IMMEDIATE`` transaction
(SQLite DDL is transactional), so two processes opening an old file at once migrate it exactly once
and a crash mid-migration leaves the old version intact.

Version 0 is an empty file. Add a schema change as a new function appended to MIGRATIONS; never
edit a released one, because files in the field were built by it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sidequest.errors import SchemaVersionError, StoreError

#: "SqDq": marks a file as a sidequest store (PRAGMA application_id).
APPLICATION_ID = 0x53714471


def _create_v1(conn: sqlite3.Connection) -> None:
    """The first schema: jobs claimed in place, Sidekiq's sorted sets, the process registry."""
    statements = [
        # A job is pending while owner is NULL and in progress while a process identity owns it.
        # id is the queue position: pushes take max(id) + 1, requeues min(id) - 1 (front of the queue).
        # claimed orders an owner's in-progress jobs by when they were fetched.
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, payload TEXT NOT NULL, owner TEXT,"
        " claimed INTEGER)",
        "CREATE INDEX jobs_ready ON jobs (queue, id) WHERE owner IS NULL",
        "CREATE INDEX jobs_owner ON jobs (owner, claimed) WHERE owner IS NOT NULL",
        "CREATE TABLE known_queues (name TEXT PRIMARY KEY) WITHOUT ROWID",
        # Keyed in ZSET order (score, then member), so due moves, pages and trims read the table in
        # order and stop early, even when thousands of entries share one score (perform_bulk with at=).
        "CREATE TABLE sorted_sets (name TEXT NOT NULL, score REAL NOT NULL, payload TEXT NOT NULL,"
        " PRIMARY KEY (name, score, payload), UNIQUE (name, payload)) WITHOUT ROWID",
        # registered = in Sidekiq's "processes" set; the record itself lives until expires_at.
        "CREATE TABLE processes (identity TEXT PRIMARY KEY, info TEXT NOT NULL, busy INTEGER NOT NULL,"
        " beat REAL NOT NULL, quiet INTEGER NOT NULL, rss_kb INTEGER NOT NULL, rtt_us INTEGER NOT NULL,"
        " concurrency INTEGER NOT NULL, expires_at REAL NOT NULL, registered INTEGER NOT NULL)",
        "CREATE TABLE work (identity TEXT NOT NULL, tid TEXT NOT NULL, value TEXT NOT NULL)",
        "CREATE INDEX work_by_identity ON work (identity)",
        "CREATE TABLE signals (id INTEGER PRIMARY KEY, identity TEXT NOT NULL, signal TEXT NOT NULL)",
        "CREATE INDEX signals_by_identity ON signals (identity, id)",
        "CREATE TABLE counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        f"PRAGMA application_id = {APPLICATION_ID}",
    ]
    for statement in statements:
        conn.execute(statement)


def _count_dead_v2(conn: sqlite3.Connection) -> None:
    """A table for the dead set's size, so kill trims the set without counting it.

    Counting 10,000 dead entries read the whole set (megabytes of pages) for every job that died.
    The size is written by kill and forgotten by every other change to the dead set (see
    sorted_sets.py); the version bump keeps sidequest versions that would not forget it off the file.
    """
    conn.execute("CREATE TABLE set_sizes (name TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID")


def _operators_v3(conn: sqlite3.Connection) -> None:
    """Paused queues (fetch skips them) and per-minute job metrics, for the operator API.

    The version bump keeps older sidequest versions, whose fetch would ignore a paused queue, off
    the file.
    """
    conn.execute("CREATE TABLE paused_queues (name TEXT PRIMARY KEY) WITHOUT ROWID")
    # minute is the epoch second starting a UTC minute; ms sums successful runs only and buckets is
    # their execution-time histogram as a JSON array, or NULL (Sidekiq 7's metrics)
    conn.execute(
        "CREATE TABLE job_metrics (minute INTEGER NOT NULL, class TEXT NOT NULL, executions INTEGER NOT NULL,"
        " failures INTEGER NOT NULL, ms REAL NOT NULL, buckets TEXT, PRIMARY KEY (minute, class)) WITHOUT ROWID"
    )


def _records_v4(conn: sqlite3.Connection) -> None:
    """Records with an expiry (Store.put_record), for integrations such as the Django Tasks backend."""
    conn.execute(
        "CREATE TABLE records (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
    )
    conn.execute("CREATE INDEX records_expiry ON records (expires_at)")


def _count_recoveries_v5(conn: sqlite3.Connection) -> None:
    """How many times each job's process died under it, so recover buries a poison pill.

    The count lives on the job's row: it survives recovery (the row only changes owner) and goes
    with the row when the job is acknowledged.
    """
    conn.execute("ALTER TABLE jobs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0")


def _periodic_and_unique_v6(conn: sqlite3.Connection) -> None:
    """Periodic schedules (one row each, with the last claimed tick) and unique-job locks."""
    conn.execute(
        "CREATE TABLE periodic (name TEXT PRIMARY KEY, definition TEXT NOT NULL, paused INTEGER NOT NULL,"
        " last_tick REAL, last_jid TEXT, last_enqueued_at REAL, last_outcome TEXT, last_outcome_at REAL)"
        " WITHOUT ROWID"
    )
    conn.execute(
        "CREATE TABLE unique_locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)"
        " WITHOUT ROWID"
    )


def _batches_v7(conn: sqlite3.Connection) -> None:
    """Batches and their pending members (sidequest.batches)."""
    from sidequest.stores.sqlite.batches import create_tables

    create_tables(conn)


def _cheap_sizes_v8(conn: sqlite3.Connection) -> None:
    """Set and queue sizes without reading every entry, for the dashboard's counters on every page.

    Every set's size is kept in set_sizes (v2 kept the dead set's only, and dropped it on most
    writes): counted once here, kept by every write from now on (see sorted_sets.py). The version
    bump keeps older sidequest versions, whose writes would not keep them, off the file.
    jobs_ready gains the owner column, always NULL in it, so counting a queue's pending jobs reads
    the index alone instead of every job's row as well (~3 ms per 100,000 jobs instead of ~10).
    """
    conn.execute("DELETE FROM set_sizes")
    conn.execute("INSERT INTO set_sizes (name, size) SELECT name, count(*) FROM sorted_sets GROUP BY name")
    conn.execute("DROP INDEX jobs_ready")
    conn.execute("CREATE INDEX jobs_ready ON jobs (queue, id, owner) WHERE owner IS NULL")


#: MIGRATIONS[n] turns a version-n file into version n + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_v1,
    _count_dead_v2,
    _operators_v3,
    _records_v4,
    _count_recoveries_v5,
    _periodic_and_unique_v6,
    _batches_v7,
    _cheap_sizes_v8,
]
SCHEMA_VERSION = len(MIGRATIONS)


def read_version(conn: sqlite3.Connection, path: str) -> int:
    """The file's schema version, after checking the file is ours and not from a newer sidequest.

    The version, the application id and the table list are read in one transaction: read one by one,
    they could straddle another process's migration commit (version 0 and application id 0 read
    before it, the new tables after), and a fresh file being set up by a sibling would be refused
    as another application's. Inside the caller's write transaction the reads join it.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        application_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = _tables(conn)
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")
    if application_id not in (0, APPLICATION_ID) or (version == 0 and tables):
        raise StoreError(
            f"{path} is an SQLite database of another application (application_id {application_id}, "
            f"tables: {', '.join(tables) or 'none'}); point sidequest at a file of its own"
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has sidequest schema version {version}, but this sidequest only knows versions up to "
            f"{SCHEMA_VERSION}; it was written by a newer sidequest. Upgrade sidequest here, or use another file"
        )
    return version


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file up to SCHEMA_VERSION inside the caller's write transaction; returns the old version."""
    version = read_version(conn, path)
    for step in MIGRATIONS[version:]:
        step(conn)
    if version != SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return [str(name) for (name,) in rows]
