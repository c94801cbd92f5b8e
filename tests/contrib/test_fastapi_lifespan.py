"""The in-process worker of worker_lifespan_with(): it runs jobs while the app runs and stops with it."""

from __future__ import annotations

import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

import sidequest
from sidequest import job, registry
from sidequest.config import get_config
from sidequest.contrib.fastapi import worker_lifespan_with
from tests.support.worker import wait_for


@job(name="tests.contrib.lifespan.write")
def write(path: str) -> None:
    Path(path).write_text("written\n")


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sidequest-in-process-worker"]


def test_a_starlette_app_runs_jobs_on_its_own_worker_and_stops_it_on_shutdown(
    tmp_path: Path, sqlite_url: str
) -> None:
    # given a plain Starlette app whose lifespan runs a worker with its own settings
    sidequest.configure(url=sqlite_url, heartbeat_interval=0.5, process_ttl=5, poll_interval=0.1)
    app = Starlette(lifespan=worker_lifespan_with(concurrency=2, timeout=5))
    target = tmp_path / "written.txt"
    with TestClient(app):
        # when a job is enqueued while the app runs
        write.perform_async(str(target))
        # then the app's worker ran it, with the settings the lifespan applied
        wait_for(target.exists, timeout=30, what="the in-process worker to run the job")
        assert get_config().settings.concurrency == 2
        assert len(worker_threads()) == 1
    # and once the app has shut down, its worker has stopped
    assert worker_threads() == []


def teardown_module() -> None:
    registry.unregister("tests.contrib.lifespan.write")
