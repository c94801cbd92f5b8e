"""Cross-process wake-ups on the SQLite store, with real processes: a push wakes an idle worker elsewhere.

The waiting processes here poll every 30 s (IDLE_POLL set in the child), so a job they take within
the tests' 20 s deadlines can only have come through the wake-up socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest.stores.base import Work
from sidequest.stores.sqlite import SQLiteStore
from sidequest.stores.sqlite.wakeup import MAX_SOCKET_PATH, wake_folder
from tests.support.waiting import wait_for
from tests.support.worker import Worker, ledger

pytestmark = pytest.mark.slow

#: Longer than any wait below: a job taken in time came through a wake-up, not a poll.
SLOW_POLL = 30.0
DEADLINE = 20.0

WAITER = f"""
import sys
import sidequest.stores.sqlite.store as sqlite_store
sqlite_store.IDLE_POLL = {SLOW_POLL}
from sidequest.stores.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
works = store.fetch("waiter", ["default"], 1, timeout=120)
print(",".join(work.payload for work in works), flush=True)
store.close()
"""


def start_waiter(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WAITER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def sockets(folder: str) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def push_from_another_process(url: str, payload: str) -> None:
    code = "import sys; from sidequest.stores.sqlite import SQLiteStore; SQLiteStore(sys.argv[1]).push([('default', sys.argv[2])])"
    subprocess.run([sys.executable, "-c", code, url, payload], check=True, timeout=60)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


def url_of(db: Path) -> str:
    return f"sqlite:///{db}"


@contextlib.contextmanager
def killed_at_end(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_a_push_from_another_process_wakes_a_fetch_waiting_in_a_third(db: Path) -> None:
    # given a process waiting for a job, listening beside the file
    SQLiteStore(url_of(db)).close()
    folder = wake_folder(str(db))
    assert folder == f"{os.path.realpath(db)}.wake"
    with killed_at_end(start_waiter(url_of(db))) as waiter:
        wait_for(lambda: sockets(folder), DEADLINE, "the waiter to listen")
        # when another process pushes a job
        push_from_another_process(url_of(db), "job from afar")
        out, err = waiter.communicate(timeout=DEADLINE)
    # then the waiter took it long before its next poll, and removed its socket on the way out
    assert waiter.returncode == 0, err
    assert out.strip() == "job from afar"
    assert sockets(folder) == []


def test_a_push_in_the_listening_process_still_wakes_its_own_fetch(db: Path) -> None:
    store = SQLiteStore(url_of(db))
    other = SQLiteStore(url_of(db))
    got: list[Work] = []
    fetcher = threading.Thread(target=lambda: got.extend(store.fetch("w", ["default"], 1, timeout=120)))
    fetcher.start()
    wait_for(lambda: sockets(wake_folder(str(db))), DEADLINE, "this process to listen")
    other.push([("default", "same process")])
    fetcher.join(DEADLINE)
    other.close()
    store.close()
    assert got == [Work("default", "same process")]


def test_a_database_path_too_long_for_a_socket_listens_in_the_temp_dir(tmp_path: Path) -> None:
    # given a file whose folder path leaves no room for a socket name (AF_UNIX paths end at 108 bytes)
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    db = deep / "jobs.db"
    folder = wake_folder(str(db))
    assert len(f"{os.path.realpath(db)}.wake/") > MAX_SOCKET_PATH
    assert os.path.dirname(folder) == tempfile.gettempdir()
    SQLiteStore(url_of(db)).close()
    # when a waiter listens and another process pushes
    with killed_at_end(start_waiter(url_of(db))) as waiter:
        wait_for(lambda: sockets(folder), DEADLINE, "the waiter to listen")
        push_from_another_process(url_of(db), "deep job")
        out, err = waiter.communicate(timeout=DEADLINE)
    # then the wake-up went through the hashed folder
    assert out.strip() == "deep job", err
    os.rmdir(folder)


def test_the_socket_of_a_killed_process_is_removed_by_the_next_push(db: Path) -> None:
    # given a waiter that was killed while listening: its socket stays behind
    SQLiteStore(url_of(db)).close()
    folder = wake_folder(str(db))
    with killed_at_end(start_waiter(url_of(db))) as waiter:
        stale = wait_for(lambda: sockets(folder), DEADLINE, "the waiter to listen")
        waiter.send_signal(signal.SIGKILL)
        waiter.wait(DEADLINE)
    assert sockets(folder) == stale
    # when a job is pushed
    store = SQLiteStore(url_of(db))
    store.push([("default", "nobody hears")])
    store.close()
    # then the push found nobody listening there and removed the socket
    assert sockets(folder) == []


def test_a_process_that_starts_listening_removes_dead_sockets_first(db: Path) -> None:
    # given a socket left by a process that is gone
    folder = Path(wake_folder(str(db)))
    folder.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(folder / "1.dead00"))
    dead.close()
    # when a fetch waits for work in this process
    store = SQLiteStore(url_of(db))
    assert store.fetch("w", ["default"], 1, timeout=0.05) == []
    # then only this process's own socket is there
    assert [name.split(".")[0] for name in sockets(str(folder))] == [str(os.getpid())]
    store.close()
    assert sockets(str(folder)) == []


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """folder, where this process may not create a socket (a read-only bind mount when root)."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mounted = (
        subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
    )
    if not mounted or subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)]).returncode != 0:
        if mounted:
            subprocess.run(["umount", str(folder)])
        pytest.skip("cannot make a read-only bind mount here")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("blocked", ["read-only folder", "a file in the way"])
def test_a_process_that_cannot_listen_polls_instead_and_warns_once(
    db: Path, blocked: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given a wake folder this process cannot create a socket in
    folder = Path(wake_folder(str(db)))
    with contextlib.ExitStack() as stack:
        if blocked == "read-only folder":
            stack.enter_context(read_only_folder(folder))
        else:
            folder.write_text("not a folder")
        store = SQLiteStore(url_of(db))
        stack.callback(store.close)
        got: list[Work] = []
        # when fetches wait, twice, and another process pushes while the second waits
        with caplog.at_level(logging.WARNING, logger="sidequest"):
            assert store.fetch("w", ["default"], 1, timeout=0.05) == []
            fetcher = threading.Thread(
                target=lambda: got.extend(store.fetch("w", ["default"], 1, timeout=120))
            )
            fetcher.start()
            push_from_another_process(url_of(db), "found by polling")
            fetcher.join(DEADLINE)
    # then polling found the job, and one warning said why it was not woken
    assert got == [Work("default", "found by polling")]
    warnings = [r.getMessage() for r in caplog.records if "wake-ups" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert str(folder) in warnings[0] and "polling" in warnings[0]


def test_each_process_of_a_worker_with_processes_2_listens_and_runs_jobs_pushed_elsewhere(
    tmp_path: Path, db: Path
) -> None:
    # given `sidequest worker --processes 2` idle on a SQLite file
    url = url_of(db)
    SQLiteStore(url).close()
    folder = wake_folder(str(db))
    worker = Worker(url, tmp_path, "--processes", "2", "-c", "2")
    try:
        # then each child process listens on a socket of its own
        listening = wait_for(
            lambda: len(sockets(folder)) == 2 and sockets(folder), 60, "two listening children"
        )
        assert len({name.split(".")[0] for name in listening}) == 2
        # when another process enqueues jobs, they run
        code = (
            "import sys, sidequest; sidequest.configure(url=sys.argv[1]); "
            "[sidequest.enqueue('tests.record', [tag]) for tag in ('one', 'two', 'three')]"
        )
        subprocess.run([sys.executable, "-c", code, url], check=True, timeout=60)
        wait_for(lambda: sorted(ledger(tmp_path)) == ["one", "three", "two"], 60, "the jobs to run")
    finally:
        worker.signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.wait(30)


TWO_FILES = f"""
import sys, threading
import sidequest.stores.sqlite.store as sqlite_store
sqlite_store.IDLE_POLL = {SLOW_POLL}
from sidequest.stores.sqlite import SQLiteStore
stores = [SQLiteStore(sys.argv[1]), SQLiteStore(sys.argv[1]), SQLiteStore(sys.argv[2])]
got = {{}}
def wait(index):
    got[index] = [work.payload for work in stores[index].fetch(f"waiter{{index}}", ["default"], 1, timeout=120)]
threads = [threading.Thread(target=wait, args=(index,)) for index in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sorted(payload for payloads in got.values() for payload in payloads), flush=True)
"""


def test_stores_on_two_files_in_one_process_are_woken_by_pushes_to_their_own_file(tmp_path: Path) -> None:
    # given one process waiting with two stores on file A and one on file B
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    for db in (first, second):
        SQLiteStore(url_of(db)).close()
    waiter = subprocess.Popen(
        [sys.executable, "-c", TWO_FILES, url_of(first), url_of(second)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with killed_at_end(waiter):
        # then it listens once per file
        for db in (first, second):
            wait_for(
                lambda db=db: len(sockets(wake_folder(str(db)))) == 1, DEADLINE, f"a socket for {db.name}"
            )
        # when other processes push to each file
        push_from_another_process(url_of(second), "to b")
        push_from_another_process(url_of(first), "to a, 1")
        push_from_another_process(url_of(first), "to a, 2")
        out, err = waiter.communicate(timeout=DEADLINE)
    # then each store got a job of its own file
    assert out.strip() == "['to a, 1', 'to a, 2', 'to b']", err


BUSY_THEN_IDLE = f"""
import os, sys, time
import sidequest.stores.sqlite.store as sqlite_store
sqlite_store.IDLE_POLL = {SLOW_POLL}
from sidequest.stores.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
first = store.fetch("waiter", ["default"], 1, timeout=120)
print("busy", flush=True)
while not os.path.exists(sys.argv[2]):  # a long job: no fetch waits meanwhile
    time.sleep(0.01)
print("idle", flush=True)
second = store.fetch("waiter", ["default"], 1, timeout=120)
print(",".join(work.payload for work in first + second), flush=True)
store.close()
"""


def test_pushes_while_the_listener_is_busy_never_block_and_the_next_wait_is_woken(
    db: Path, tmp_path: Path
) -> None:
    # given a process busy with a job it took after a wake-up
    url = url_of(db)
    store = SQLiteStore(url)
    done = tmp_path / "job done"
    waiter = subprocess.Popen(
        [sys.executable, "-c", BUSY_THEN_IDLE, url, str(done)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with killed_at_end(waiter):
        assert waiter.stdout is not None
        wait_for(lambda: sockets(wake_folder(str(db))), DEADLINE, "the waiter to listen")
        store.push([("default", "first")])
        assert waiter.stdout.readline().strip() == "busy"
        # when many jobs are pushed for other queues meanwhile (more than its socket queues)
        for n in range(50):
            store.push([("elsewhere", f"other {n}")])
        # and it finishes its job and waits again before another push
        done.touch()
        assert waiter.stdout.readline().strip() == "idle"
        push_from_another_process(url, "second")
        out, err = waiter.communicate(timeout=DEADLINE)
    store.close()
    # then every push went through, and the wait after the busy time was woken
    assert out.strip() == "first,second", err
