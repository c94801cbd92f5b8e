"""Opening a file: new files get the current schema, old ones are migrated, newer or foreign ones refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from sidequest.errors import ConfigError, SchemaVersionError, StoreError
from sidequest.stores import open_store
from sidequest.stores.sqlite import SQLiteStore, schema
from sidequest.stores.sqlite import store as store_module
from sidequest.stores.sqlite.schema import APPLICATION_ID, SCHEMA_VERSION


def pragma(path: Path, name: str) -> int:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def test_a_new_file_gets_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = open_store(f"sqlite:///{path}")
    store.push([("default", "job")])
    store.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "application_id") == APPLICATION_ID
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_empty_version_0_file_is_migrated_and_keeps_working(tmp_path: Path) -> None:
    # given an existing empty file, as `touch sidequest.db` leaves (schema version 0)
    path = tmp_path / "empty.db"
    path.touch()
    # when it is opened
    store = SQLiteStore(f"sqlite:///{path}")
    store.push([("default", "job")])
    store.close()
    # then it was brought to the current version and the job survives a reopen
    assert pragma(path, "user_version") == SCHEMA_VERSION
    reopened = SQLiteStore(f"sqlite:///{path}")
    assert reopened.queue_range("default", 0, -1) == ["job"]
    reopened.close()


def test_a_version_1_file_is_migrated_and_its_dead_set_still_trims_to_size(tmp_path: Path) -> None:
    # given a file written by schema version 1, with three dead jobs and a retry
    path = tmp_path / "v1.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        schema.MIGRATIONS[0](conn)
        conn.execute("PRAGMA user_version = 1")
        conn.executemany(
            "INSERT INTO sorted_sets (name, score, payload) VALUES (?, ?, ?)",
            [
                ("dead", 1.0, "dead-1"),
                ("dead", 2.0, "dead-2"),
                ("dead", 3.0, "dead-3"),
                ("retry", 1.0, "retry-1"),
            ],
        )
    # when it is opened and a job dies into a set with room for three
    store = SQLiteStore(f"sqlite:///{path}")
    store.kill("dead-4", 4.0, max_jobs=4, max_age=1e9)
    # then the file is at the current version and the oldest dead job made room, the retry untouched
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert [p for _, p in store.set_range("dead", 0, -1)] == ["dead-2", "dead-3", "dead-4"]
    assert store.set_range("retry", 0, -1) == [(1.0, "retry-1")]
    store.close()


def test_a_version_7_file_is_migrated_with_every_set_size_counted(tmp_path: Path) -> None:
    # given a file written by schema version 7: sets of 3, 2 and 0 entries, and a dead size row
    # that version 7's writes had left stale
    path = tmp_path / "v7.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for migration in schema.MIGRATIONS[:7]:
            migration(conn)
        conn.execute("PRAGMA user_version = 7")
        conn.executemany(
            "INSERT INTO sorted_sets (name, score, payload) VALUES (?, ?, ?)",
            [("retry", float(n), f"retry-{n}") for n in range(3)]
            + [("dead", 1.0, "d-1"), ("dead", 2.0, "d-2")],
        )
        conn.execute("INSERT INTO set_sizes (name, size) VALUES ('dead', 7)")
    # when it is opened and written to
    store = SQLiteStore(f"sqlite:///{path}")
    store.add_to_set("schedule", [(5.0, "later")])
    # then every size is right, and the dead set still trims by its true size
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert [store.set_size(name) for name in ("retry", "dead", "schedule")] == [3, 2, 1]
    store.kill("d-3", 3.0, max_jobs=3, max_age=1e9)
    assert [p for _, p in store.set_range("dead", 0, -1)] == ["d-2", "d-3"]
    store.close()


def test_a_queue_is_counted_from_its_index_alone(tmp_path: Path) -> None:
    # given a store file (the dashboard counts every queue on every page)
    path = tmp_path / "count.db"
    SQLiteStore(f"sqlite:///{path}").close()
    # then SQLite counts a queue's pending jobs without reading the jobs' rows
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {store_module._COUNT_PENDING}", ("default",)).fetchall()
    assert "COVERING INDEX jobs_ready" in " ".join(str(step[-1]) for step in plan)


def test_a_file_from_a_newer_sidequest_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(f"sqlite:///{path}").close()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 41}")
    with pytest.raises(SchemaVersionError) as raised:
        SQLiteStore(f"sqlite:///{path}")
    message = str(raised.value)
    assert f"version {SCHEMA_VERSION + 41}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert "newer sidequest" in message
    # and the file was not touched
    assert pragma(path, "user_version") == SCHEMA_VERSION + 41


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(StoreError, match="another application.*users"):
        SQLiteStore(f"sqlite:///{path}")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["users"]


OPEN_IN_ROUNDS = """
import os, sys, time
from sidequest.stores.sqlite import SQLiteStore
directory, me, count, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for round in range(rounds):
    # A barrier through the file system, so every process opens round N's new file at the same moment;
    # a process that failed leaves a marker so the others stop waiting for it.
    open(os.path.join(directory, f"ready-{round}-{me}"), "w").close()
    deadline = time.monotonic() + 60
    while True:
        names = os.listdir(directory)
        if any(name.startswith("failed-") for name in names):
            sys.exit(3)
        if sum(name.startswith(f"ready-{round}-") for name in names) >= count:
            break
        if time.monotonic() > deadline:
            sys.exit(f"round {round}: the other processes never arrived")
        time.sleep(0.001)
    try:
        store = SQLiteStore(f"sqlite:///{directory}/round-{round}.db")
        store.push([("default", f"{me}-{round}")])
        store.close()
    except BaseException:
        open(os.path.join(directory, f"failed-{me}"), "w").close()
        raise
"""


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes a test starts; any still running when it ends (a failed test) are killed and reaped."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate()


def test_processes_opening_new_files_together_migrate_each_once(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    # given six processes that open a fresh file together, a hundred times over
    count, rounds = 6, 100
    children.extend(
        subprocess.Popen(
            [sys.executable, "-c", OPEN_IN_ROUNDS, str(tmp_path), str(n), str(count), str(rounds)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    )
    # when they have all finished
    failures = []
    for child in children:
        _, err = child.communicate(timeout=120)
        if child.returncode not in (0, 3):  # 3: stopped because another process failed
            failures.append(err.strip().splitlines()[-1] if err.strip() else f"exit {child.returncode}")
    # then none was refused, and every file holds one job from each process
    assert failures == []
    assert [child.returncode for child in children] == [0] * count
    for round in range(rounds):
        store = SQLiteStore(f"sqlite:///{tmp_path / f'round-{round}.db'}")
        assert sorted(store.queue_range("default", 0, -1)) == sorted(f"{n}-{round}" for n in range(count))
        store.close()
        assert pragma(tmp_path / f"round-{round}.db", "user_version") == SCHEMA_VERSION


def test_url_options_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "opts.db"
    store = SQLiteStore(f"sqlite:///{path}?synchronous=FULL&busy_timeout=2.5")
    assert store._db.options.synchronous == "FULL"
    assert store._db.options.busy_timeout == 2.5
    assert store._db.connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    default = SQLiteStore(f"sqlite:///{path}")
    assert default._db.connection().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    default.close()
    with pytest.raises(ConfigError, match="synchronous must be one of"):
        SQLiteStore(f"sqlite:///{path}?synchronous=SOMETIMES")
    with pytest.raises(ConfigError, match="unknown option.*journal"):
        SQLiteStore(f"sqlite:///{path}?journal=delete")
    with pytest.raises(ConfigError, match="memory://"):
        SQLiteStore("sqlite:///:memory:")


def test_a_relative_url_opens_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///sidequest.db")
    store.push([("default", "here")])
    store.close()
    assert (tmp_path / "sidequest.db").exists()


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'closed.db'}")
    store.close()
    with pytest.raises(StoreError, match="was closed"):
        store.push([("default", "late")])
