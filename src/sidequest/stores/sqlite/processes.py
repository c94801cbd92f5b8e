"""The process registry (heartbeats, running jobs, remote signals) and the processed/failed counters.

Sidekiq keeps a process's record under a key that expires and lists the process in a set; here one
row carries both: expires_at for the record and registered for the set membership, so a clean stop
(remove_process) hides the process at once while recovery still waits for the record to expire.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping

from sidequest._time import utc_day
from sidequest.stores.base import (
    METRICS_RETENTION,
    Beat,
    BeatResult,
    Counters,
    JobCounts,
    ProcessRecord,
    add_buckets,
    minute_of,
)
from sidequest.stores.sqlite.database import CHUNK, Database


class Processes:
    """The process and counter part of SQLiteStore (mixed into it)."""

    _db: Database

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
            if beat.metrics:
                _add_metrics(conn, beat.metrics, beat.beat)
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
        rows = self._db.read_all(
            "list processes",
            "SELECT identity, info, busy, beat, quiet, rss_kb, rtt_us, concurrency FROM processes"
            " WHERE registered = 1 AND expires_at > ? ORDER BY identity",
            (time.time(),),
        )
        return [ProcessRecord.read(*row) for row in rows]

    def work(self) -> list[tuple[str, str, str]]:
        rows = self._db.read_all(
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
            self._db.read_all(
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
                self._db.read_all(
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

    # ---- job metrics -----------------------------------------------------------------------------
    def add_metrics(self, metrics: Mapping[str, JobCounts], now: float) -> None:
        if metrics:
            self._db.write("add job metrics", lambda conn: _add_metrics(conn, metrics, now))

    def job_metrics(self, now: float, minutes: int) -> dict[int, dict[str, JobCounts]]:
        last = minute_of(now)
        rows = self._db.read_all(
            "read job metrics",
            "SELECT minute, class, executions, failures, ms FROM job_metrics WHERE minute BETWEEN ? AND ?"
            " ORDER BY minute, class",
            (last - 60 * (minutes - 1), last),
        )
        out: dict[int, dict[str, JobCounts]] = {}
        for minute, job_class, executions, failures, ms in rows:
            out.setdefault(int(minute), {})[str(job_class)] = JobCounts(
                int(executions), int(failures), float(ms)
            )
        return out

    def job_histogram(self, job_class: str, now: float, minutes: int) -> dict[int, list[int]]:
        last = minute_of(now)
        rows = self._db.read_all(
            "read a job's histogram",
            "SELECT minute, buckets FROM job_metrics WHERE class = ? AND minute BETWEEN ? AND ?"
            " AND buckets IS NOT NULL ORDER BY minute",
            (job_class, last - 60 * (minutes - 1), last),
        )
        return {int(minute): [int(n) for n in json.loads(buckets)] for minute, buckets in rows}


def _add_metrics(conn: sqlite3.Connection, metrics: Mapping[str, JobCounts], now: float) -> None:
    minute = minute_of(now)
    conn.executemany(
        "INSERT INTO job_metrics (minute, class, executions, failures, ms) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (minute, class) DO UPDATE SET executions = executions + excluded.executions,"
        " failures = failures + excluded.failures, ms = ms + excluded.ms",
        [(minute, name, c.executions, c.failures, c.ms) for name, c in metrics.items()],
    )
    for name, counts in metrics.items():
        if counts.buckets:  # histograms add bucket by bucket: read, add, write, in this transaction
            row = conn.execute(_BUCKETS, (minute, name)).fetchone()
            merged = add_buckets(json.loads(row[0]) if row and row[0] else [], counts.buckets)
            conn.execute(
                "UPDATE job_metrics SET buckets = ? WHERE minute = ? AND class = ?",
                (json.dumps(merged), minute, name),
            )
    conn.execute("DELETE FROM job_metrics WHERE minute <= ?", (now - METRICS_RETENTION,))


_BUCKETS = "SELECT buckets FROM job_metrics WHERE minute = ? AND class = ?"


def expire_processes(conn: sqlite3.Connection, now: float) -> None:
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
