"""Several real processes on one SQLite file: no job given twice, no lock error, no job lost, prompt wake-up."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest.stores.base import Beat, Work
from sidequest.stores.sqlite import SQLiteStore
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

PRELUDE = """
import json, os, sys, time
from sidequest.stores.base import Beat
from sidequest.stores.sqlite import SQLiteStore
url = sys.argv[1]
"""


def start(script: str, *args: str) -> subprocess.Popen[str]:
    code = PRELUDE + textwrap.dedent(script)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"child failed ({process.returncode}):\n{err}"
    assert "locked" not in err.lower(), err
    return out


def alive(identity: str, ttl: float = 600) -> Beat:
    return Beat(identity, "{}", 0, time.time(), False, 1000, 10, 5, {}, ttl=ttl)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def store(url: str) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(url)
    yield opened
    opened.close()


DRAIN = """
go = sys.argv[2]
identity = f"drainer:{os.getpid()}"
store = SQLiteStore(url)
store.beat(Beat(identity, "{}", 0, time.time(), False, 1, 1, 5, {}, ttl=600))
open(go + f".{os.getpid()}", "w").close()  # ready
deadline = time.monotonic() + 30
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.005)
got = []
while True:
    works = store.fetch(identity, ["default", "low"], 7)
    if not works:
        break
    got.extend(w.payload for w in works)
    assert store.ack(identity, works) == len(works)
print(json.dumps(got))
store.close()
"""


def test_two_processes_fetching_one_file_never_get_the_same_job(
    store: SQLiteStore, url: str, tmp_path: Path
) -> None:
    # given 3000 jobs in two queues and two fetching processes started together
    jobs = [(("default", "low")[n % 2], json.dumps({"queue": "q", "jid": str(n)})) for n in range(3000)]
    store.push(jobs)
    go = tmp_path / "go"
    drainers = [start(DRAIN, url, str(go)) for _ in range(2)]
    wait_for(lambda: len(list(tmp_path.glob("go.*"))) == 2, what="both drainers to be ready")
    go.touch()
    # when both drain the file
    batches = [json.loads(finish(process)) for process in drainers]
    # then every job was fetched exactly once
    fetched = batches[0] + batches[1]
    assert sorted(fetched) == sorted(payload for _, payload in jobs)
    assert len(set(fetched)) == len(fetched)
    assert store.queue_size("default") == store.queue_size("low") == 0


WRITE = """
n = int(sys.argv[2])
store = SQLiteStore(url)
for i in range(400):
    store.push([("default", json.dumps({"writer": n, "i": i}))])
    if i % 50 == 0:
        store.add_to_set("retry", [(time.time(), json.dumps({"writer": n, "retry": i}))])
        store.add_counts(1, 0, time.time())
store.close()
"""


def test_writers_under_contention_never_see_database_is_locked(store: SQLiteStore, url: str) -> None:
    # given four processes writing to one file as fast as they can
    writers = [start(WRITE, url, str(n)) for n in range(4)]
    # when they all finish
    for process in writers:
        finish(process)
    # then none failed or printed a lock error (finish checks), and every write is there
    assert store.queue_size("default") == 1600
    assert store.set_size("retry") == 32
    assert store.counters().processed == 32


def test_a_write_waits_for_a_lock_held_by_another_connection(
    store: SQLiteStore, url: str, tmp_path: Path
) -> None:
    # given another program holding the file's write lock for a moment
    import sqlite3

    holder = sqlite3.connect(tmp_path / "shared.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        # when a job is pushed meanwhile
        store.push([("default", "waited")])
    finally:
        release.join()
        holder.close()
    # then the push waited instead of failing
    assert store.queue_oldest("default") == "waited"


PUSH_LATER = """
go = sys.argv[2]
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.005)
store = SQLiteStore(url)
store.push([("default", "from another process")])
store.close()
"""


def test_an_idle_fetch_wakes_when_another_process_pushes(
    store: SQLiteStore, url: str, tmp_path: Path
) -> None:
    # given a fetch waiting on an empty store with a long timeout
    store.beat(alive("waiter:1"))
    result: list[Work] = []
    waiting = threading.Event()

    def wait_for_job() -> None:
        waiting.set()
        result.extend(store.fetch("waiter:1", ["default"], 10, timeout=120))

    fetcher = threading.Thread(target=wait_for_job)
    fetcher.start()
    waiting.wait(10)
    go = tmp_path / "go"
    pusher = start(PUSH_LATER, url, str(go))
    # when another process pushes a job
    started = time.monotonic()
    go.touch()
    finish(pusher)
    fetcher.join(120)
    # then the fetch returned it long before its timeout (the real latency is measured in bench/)
    assert result == [Work("default", "from another process")]
    assert time.monotonic() - started < 60


def test_an_idle_fetch_wakes_when_a_thread_of_this_process_pushes(store: SQLiteStore, url: str) -> None:
    store.beat(alive("waiter:2"))
    other = SQLiteStore(url)  # a second handle, as a web app thread and a worker would have
    result: list[Work] = []
    fetcher = threading.Thread(
        target=lambda: result.extend(store.fetch("waiter:2", ["default"], 1, timeout=120))
    )
    started = time.monotonic()
    fetcher.start()
    other.push([("default", "same process")])
    fetcher.join(120)
    other.close()
    assert result == [Work("default", "same process")]
    assert time.monotonic() - started < 60


HOLD = """
identity = sys.argv[2]
store = SQLiteStore(url)
store.beat(Beat(identity, "{}", 0, time.time(), False, 1, 1, 5, {}, ttl=0.3))
works = store.fetch(identity, ["default"], 10)
print(len(works), flush=True)
time.sleep(600)
"""


def test_jobs_of_a_killed_process_are_recovered_once_its_heartbeat_expires(
    store: SQLiteStore, url: str
) -> None:
    # given a process that fetched 10 of 15 jobs and was then killed with SIGKILL
    store.push([("default", f"job-{n}") for n in range(15)])
    holder = start(HOLD, url, "doomed:1")
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "10"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    holder.communicate()
    assert len(store.in_progress("doomed:1")) == 10
    # when recovery runs after its short (0.3 s) heartbeat has expired
    recovered: list[int] = []

    def recovery_ran() -> bool:
        recovered.append(len(store.recover()))
        return recovered[-1] > 0

    wait_for(recovery_ran, what="recovery")
    # then all ten are back at the front of the queue, none lost, none duplicated
    assert recovered[-1] == 10
    assert store.in_progress("doomed:1") == []
    assert sorted(store.queue_range("default", 0, -1)) == sorted(f"job-{n}" for n in range(15))
    assert len(store.recover()) == 0
    store.beat(alive("heir:1"))
    first = store.fetch("heir:1", ["default"], 10)
    assert sorted(w.payload for w in first) == sorted(f"job-{n}" for n in range(10))


def test_recovery_leaves_a_live_process_alone(store: SQLiteStore) -> None:
    store.beat(alive("busy:1"))
    store.push([("default", "long job")])
    assert store.fetch("busy:1", ["default"], 1) == [Work("default", "long job")]
    assert len(store.recover()) == 0
    assert store.in_progress("busy:1") == [Work("default", "long job")]


def test_a_forked_child_can_use_the_store_it_inherited(store: SQLiteStore) -> None:
    # given a store already in use when the process forks (as `sidequest worker --processes N` does)
    store.push([("default", "before fork")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+ warns about fork with threads
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # when the child fetches, acks and pushes through the inherited object
            store.beat(alive("child:1"))
            works = store.fetch("child:1", ["default"], 10)
            store.ack("child:1", works)
            store.push([("default", "from child")])
            code = 0 if [work.payload for work in works] == ["before fork"] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    # then the child worked on its own connections and the parent's still work
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.queue_range("default", 0, -1) == ["from child"]
    store.push([("default", "parent again")])
    assert store.queue_size("default") == 2


RACE = """
go, action = sys.argv[2], sys.argv[3]
store = SQLiteStore(url)
deadline = time.monotonic() + 30
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.002)
moved = 0
for _ in range(50):
    moved += len(store.recover()) if action == "recover" else store.promote_due("schedule", time.time(), limit=7)
print(moved)
store.close()
"""


@pytest.mark.parametrize("action", ["recover", "promote"])
def test_several_processes_recovering_or_promoting_move_each_job_once(
    store: SQLiteStore, url: str, tmp_path: Path, action: str
) -> None:
    # given 300 jobs waiting to move: held by a process that died, or due in the schedule set
    jobs = [json.dumps({"queue": "default", "jid": str(n)}) for n in range(300)]
    if action == "recover":
        store.push([("default", job) for job in jobs])
        store.beat(alive("dead:1", ttl=-1))
        assert len(store.fetch("dead:1", ["default"], 300)) == 300
    else:
        store.schedule([(time.time() - 1, job) for job in jobs])
    # when three processes move them at the same moment
    go = tmp_path / "go"
    movers = [start(RACE, url, str(go), action) for _ in range(3)]
    go.touch()
    counts = [int(finish(process)) for process in movers]
    # then each job moved exactly once
    assert sum(counts) == 300
    queued = store.queue_range("default", 0, -1)
    assert len(queued) == 300
    assert sorted(json.loads(raw)["jid"] for raw in queued) == sorted(str(n) for n in range(300))
    assert store.in_progress("dead:1") == [] and store.set_size("schedule") == 0


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through /proc")
def test_threads_that_come_and_go_do_not_leave_connections_open(store: SQLiteStore, tmp_path: Path) -> None:
    # given a web server that runs each request on a new thread, every one of them enqueuing
    def open_files() -> int:
        names = []
        for fd in Path("/proc/self/fd").iterdir():
            with contextlib.suppress(OSError):
                names.append(os.readlink(fd))
        return sum(1 for name in names if name.startswith(str(tmp_path / "shared.db")))

    before = open_files()
    for n in range(60):
        request = threading.Thread(target=store.push, args=([("default", f"request-{n}")],))
        request.start()
        request.join()
    gc.collect()
    # then each finished thread's connection was closed with it
    assert store.queue_size("default") == 60
    assert open_files() <= before + 3  # at most one more connection: the db, -wal and -shm files


PUSH_FOREVER = """
store = SQLiteStore(url)
n = 0
while True:
    store.push([("default", f"job-{n}")])
    n += 1
    print(n, flush=True)  # only after push returned: the job is committed
"""


def test_every_job_a_killed_client_was_told_is_stored_survives_the_kill(store: SQLiteStore, url: str) -> None:
    # given a client pushing jobs one by one with the default synchronous=NORMAL
    client = start(PUSH_FOREVER, url)
    assert client.stdout is not None
    confirmed = 0
    while confirmed < 200:
        confirmed = int(client.stdout.readline())
    # when it is killed with SIGKILL in the middle of pushing
    os.kill(client.pid, signal.SIGKILL)
    client.wait(30)
    rest = client.stdout.read()  # through the same buffer readline filled, so no line is skipped
    client.communicate()
    confirmed = max([confirmed, *(int(line) for line in rest.split())])
    # then every push it returned from is in the file (WAL survives a process crash)
    reopened = SQLiteStore(url)
    stored = reopened.queue_range("default", 0, -1)
    reopened.close()
    assert set(stored) >= {f"job-{n}" for n in range(confirmed)}
    assert len(stored) in (confirmed, confirmed + 1)  # the last one may have committed unannounced
