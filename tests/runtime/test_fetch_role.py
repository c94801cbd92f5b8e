"""The fetching thread runs jobs between fetches; a slow one must not stop fetching or hold jobs back.

In-process workers (Launcher on a thread) on real Redis and SQLite stores.
"""

from __future__ import annotations

import threading
import time

import sidequest
from sidequest import job
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store
from tests.support.waiting import wait_for


def start_worker(**settings: float) -> tuple[Launcher, threading.Thread]:
    config = sidequest.get_config()
    config.update(heartbeat_interval=0.2, process_ttl=2, poll_interval=0.05, **settings)
    launcher = Launcher(config)
    thread = threading.Thread(target=launcher.run)
    thread.start()
    return launcher, thread


def stop_worker(launcher: Launcher, thread: threading.Thread) -> None:
    launcher.request_stop()
    thread.join(15)
    assert not thread.is_alive()


def test_quick_jobs_queued_behind_a_slow_one_run_while_it_runs(store: Store) -> None:
    # given a -c 2 worker whose first fetch brings a slow job and a quick one: the thread that
    # fetched them runs the slow one itself, so the quick ones behind it (fetched later) need the
    # fetching to go on elsewhere
    release = threading.Event()
    done: list[str] = []

    @job(name="tests.runtime.test_fetch_role.step")
    def step(name: str) -> None:
        if name == "slow":
            release.wait(20)
        done.append(name)

    step.perform_bulk([("slow",)] + [(f"quick-{n}",) for n in range(8)])
    launcher, thread = start_worker(concurrency=2)
    try:
        # then every quick job finishes while the slow one still runs
        wait_for(lambda: len(done) == 8, what="the quick jobs, while the slow one runs")
        assert "slow" not in done
        assert sorted(done) == sorted(f"quick-{n}" for n in range(8))
    finally:
        release.set()
        stop_worker(launcher, thread)
    assert sorted(done) == sorted(["slow"] + [f"quick-{n}" for n in range(8)])
    assert store.in_progress(launcher.identity) == []


def test_a_steady_stream_never_runs_more_jobs_than_the_concurrency(store: Store) -> None:
    # many short jobs of varying length: the fetch role moves between threads as jobs turn out slow
    # (a few milliseconds), and the limit must hold across every move
    running = peak = 0
    lock = threading.Lock()

    @job(name="tests.runtime.test_fetch_role.varying")
    def varying(n: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.004 if n % 7 == 0 else 0.0)
        with lock:
            running -= 1

    varying.perform_bulk([(n,) for n in range(600)])
    launcher, thread = start_worker(concurrency=3)
    try:
        wait_for(lambda: store.queue_size("default") == 0 and store.in_progress(launcher.identity) == [])
    finally:
        stop_worker(launcher, thread)
    assert store.counters().processed == 600
    assert 1 <= peak <= 3
