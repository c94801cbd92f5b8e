"""A file that cannot be written: the client gets a clear StoreError and no stored job is lost.

Read-only: without root, file permissions make the file read-only; as root (CI) permissions do not
apply, so the directory is shown through a read-only bind mount. Full disk: a tiny tmpfs, which needs
root (CI runs as root); elsewhere that test is skipped.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest.errors import StoreError, StoreUnavailable
from sidequest.stores.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

JOB = '{"class":"Job","args":["' + "x" * 900 + '"],"queue":"default","jid":"%d"}'


def run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only_view(directory: Path, view: Path) -> Iterator[Path]:
    """directory as this process sees it when it may not write there."""
    if os.geteuid() != 0:
        files = [path for path in directory.iterdir()]
        modes = {path: path.stat().st_mode for path in [*files, directory]}
        for path in files:
            path.chmod(stat.S_IRUSR | stat.S_IRGRP)
        directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield directory
        finally:
            for path, mode in reversed(modes.items()):
                path.chmod(mode)
        return
    view.mkdir()
    if not (
        run("mount", "--bind", str(directory), str(view)) and run("mount", "-o", "remount,bind,ro", str(view))
    ):
        run("umount", str(view))
        pytest.skip("cannot make a read-only bind mount here")
    try:
        yield view
    finally:
        assert run("umount", str(view)), f"could not unmount {view}"


def test_a_read_only_file_gives_a_clear_store_error_and_keeps_its_jobs(tmp_path: Path) -> None:
    # given a file holding three jobs, then made read-only for this process
    data = tmp_path / "data"
    data.mkdir()
    store = SQLiteStore(f"sqlite:///{data / 'jobs.db'}")
    store.push([("default", JOB % n) for n in range(3)])
    store.close()
    # when a client enqueues through it
    with read_only_view(data, tmp_path / "view") as visible, pytest.raises(StoreError) as raised:
        readonly = SQLiteStore(f"sqlite:///{visible / 'jobs.db'}")
        try:
            readonly.push([("default", JOB % 99)])
        finally:
            readonly.close()
    # then the error says the file is read-only and what to do, without SQLite's raw wording
    message = str(raised.value)
    assert "read-only" in message and "writable" in message and "jobs.db" in message
    assert "attempt to write" not in message
    # and the stored jobs are all still there
    reopened = SQLiteStore(f"sqlite:///{data / 'jobs.db'}")
    assert sorted(reopened.queue_range("default", 0, -1)) == sorted(JOB % n for n in range(3))
    reopened.close()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or not run("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)):
        pytest.skip("a tiny tmpfs needs root; this test runs in CI")
    try:
        yield mount_point
    finally:
        assert run("umount", str(mount_point)), f"could not unmount {mount_point}"


def test_a_full_disk_gives_a_clear_store_error_and_loses_no_stored_job(tiny_disk: Path) -> None:
    # given a store on a 512 KiB disk, and a filler file that can be deleted later to make room
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * 128 * 1024)
    store = SQLiteStore(f"sqlite:///{tiny_disk / 'jobs.db'}")
    # when jobs are pushed until the disk is full
    stored = 0
    with pytest.raises(StoreError) as raised:
        for n in range(10_000):
            store.push([("default", JOB % n)])
            stored = n + 1
    # then the error says the disk is full and that nothing was lost
    message = str(raised.value)
    assert "full" in message and "jobs already stored are safe" in message
    assert stored > 10
    # and every job that was accepted is still readable, by this handle and by a fresh one
    assert store.queue_size("default") == stored
    store.close()
    reader = SQLiteStore(f"sqlite:///{tiny_disk / 'jobs.db'}")
    assert reader.queue_size("default") == stored
    # and once space is freed, pushing works again
    filler.unlink()
    reader.push([("default", JOB % 10_001)])
    assert reader.queue_size("default") == stored + 1
    reader.close()


def test_a_lock_held_past_busy_timeout_is_a_clear_store_unavailable(tmp_path: Path) -> None:
    # given a store that waits at most 0.2 s, and another program holding the write lock
    path = tmp_path / "held.db"
    store = SQLiteStore(f"sqlite:///{path}?busy_timeout=0.2")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # when a job is pushed
        with pytest.raises(StoreUnavailable) as raised:
            store.push([("default", "blocked")])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # then the error explains the lock instead of SQLite's "database is locked", and nothing was half-written
    message = str(raised.value)
    assert "stayed locked" in message and "busy_timeout" in message
    assert "database is locked" not in message
    store.push([("default", "after")])
    assert store.queue_range("default", 0, -1) == ["after"]
    store.close()


def test_reads_continue_while_another_process_writes(tmp_path: Path) -> None:
    # WAL lets readers run during a write transaction: the operator API never blocks on a busy worker.
    path = tmp_path / "wal.db"
    store = SQLiteStore(f"sqlite:///{path}")
    store.push([("default", "visible")])
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO jobs (queue, payload) VALUES ('default', 'uncommitted')")
    try:
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(store.queue_range("default", 0, -1)))
        reader.start()
        reader.join(30)
        assert seen == ["visible"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()
