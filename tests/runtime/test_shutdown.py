"""A worker's exit: no thread still uses the store, and the SQLite store is never closed under a thread.

A burst worker on SQLite once died with SIGSEGV right after "bye": its fetching thread was still
inside a statement when the interpreter's exit closed that thread's connection from the main thread,
and CPython's sqlite3 module then reads a freed handle.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import sidequest
from sidequest import job
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store
from tests.support.waiting import wait_for


def _sidequest_threads() -> list[str]:
    """The worker's threads still alive. The log handler's flusher is left out: it writes log lines,
    never touches the store, and belongs to the process's logging set-up, which an earlier test in
    this process may have installed (it outlives any one worker)."""
    return [
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("sidequest-") and thread.name != "sidequest-log-flusher"
    ]


def test_a_stopped_worker_leaves_no_thread_using_the_store(store: Store) -> None:
    # given a running worker that ran jobs arriving one by one while it was idle (so the fetching
    # passed from thread to thread between jobs)
    done: list[int] = []

    @job(name="tests.runtime.test_shutdown.record")
    def record(n: int) -> None:
        done.append(n)

    sidequest.get_config().update(heartbeat_interval=0.2, process_ttl=5, poll_interval=0.05)
    launcher = Launcher(sidequest.get_config())
    running = threading.Thread(target=launcher.run)
    running.start()
    try:
        for n in range(3):
            record.perform_async(n)
            wait_for(lambda n=n: n in done, what=f"job {n} to run")
    finally:
        # when it is stopped
        launcher.request_stop()
        running.join(30)
    assert not running.is_alive()
    # then, once run() returns, none of its threads is left to touch the store at exit
    assert _sidequest_threads() == []
    assert store.in_progress(launcher.identity) == []


def _run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_closing_the_sqlite_store_under_busy_threads_gives_them_an_error_not_a_crash(
    tmp_path: Path,
) -> None:
    # given threads busy reading a SQLite store, many times over
    code = """
        import threading
        from sidequest.errors import StoreError
        from sidequest.stores.sqlite import SQLiteStore

        for attempt in range(60):
            store = SQLiteStore("sqlite:///closing.db")
            errors = []
            busy = threading.Barrier(5)

            def use():
                store.queue_size("default")  # the thread's own connection is open
                busy.wait()
                try:
                    while True:
                        store.queue_size("default")
                except StoreError as exc:
                    errors.append(str(exc))

            threads = [threading.Thread(target=use) for _ in range(4)]
            for thread in threads:
                thread.start()
            busy.wait()
            # when the store is closed from the main thread while they run statements
            store.close()
            for thread in threads:
                thread.join(30)
            assert len(errors) == 4, errors
        print(errors[0])
    """
    result = _run_python(code, tmp_path)
    # then the process survives and each thread was told the store was closed
    assert result.returncode == 0, result.stderr[-3000:]
    assert "closing.db was closed; open a new one with open_store()" in result.stdout


def test_a_process_exiting_while_threads_use_the_sqlite_store_exits_cleanly(tmp_path: Path) -> None:
    # given daemon threads busy reading a SQLite store
    code = """
        import sys
        import threading
        from sidequest.stores.sqlite import SQLiteStore

        store = SQLiteStore("sqlite:///exiting.db")
        busy = threading.Barrier(5)

        def use():
            store.queue_size("default")  # the thread's own connection is open
            busy.wait()
            while True:
                store.queue_size("default")

        for _ in range(4):
            threading.Thread(target=use, daemon=True).start()
        busy.wait()
        store.push([("default", "{}")])
        # when the process exits while they still run statements
        sys.exit(0)
    """
    # (each exit is one chance for the race: a few exits make a crash before the fix near certain)
    for _ in range(8):
        result = _run_python(code, tmp_path)
        # then it exits with its own status, never with SIGSEGV
        assert result.returncode == 0, result.stderr[-3000:]
