"""examples/fastapi end to end: uvicorn takes a request, a worker runs the job (a `sidequest worker`
process, or the in-process worker the lifespan starts)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.contrib.apps import (
    BIN,
    basic_auth,
    copy_example,
    environment,
    fetch,
    free_port,
    post,
    process,
    run_example_tests,
    wait_for_file,
    wait_until_serving,
)

pytestmark = pytest.mark.slow


def uvicorn(port: int) -> list[str]:
    return [str(BIN / "python"), "-m", "uvicorn", "app:app", "--port", str(port)]


def test_a_request_enqueues_a_job_that_a_worker_process_runs(tmp_path: Path, url: str) -> None:
    # given the example app under uvicorn and a `sidequest worker` for its jobs module
    app_dir = copy_example("fastapi", tmp_path)
    outbox = tmp_path / "outbox"
    env = environment(url, outbox, DASHBOARD_PASSWORD="s3cret")
    port = free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    worker_command = [str(BIN / "sidequest"), "worker", "-r", "jobs", "-c", "2"]
    with (
        process(uvicorn(port), app_dir, env, web_log) as web,
        process(worker_command, app_dir, env, worker_log) as worker,
    ):
        wait_until_serving(port, web, web_log)
        # when a request asks for a greeting (enqueued with await aperform_async)
        reply = json.loads(post(f"http://127.0.0.1:{port}/greet/ada"))
        # then the worker wrote it
        assert len(reply["jid"]) == 24
        assert wait_for_file(outbox / "ada.txt", worker_log, web_log) == "Hello, ada!\n"
        # and the dashboard at /sidequest answers only behind the app's auth dependency
        dashboard = f"http://127.0.0.1:{port}/sidequest/"
        assert fetch(dashboard)[0] == 401
        assert fetch(dashboard, headers=basic_auth("admin", "wrong"))[0] == 401
        status, _, page = fetch(dashboard + "queues", headers=basic_auth("admin", "s3cret"))
        assert status == 200 and "/sidequest/static/" in page
    assert worker.returncode == 0, worker_log.read_text()


def test_the_lifespan_runs_a_worker_inside_the_app_and_stops_it_on_shutdown(
    tmp_path: Path, sqlite_url: str
) -> None:
    # given the app with its in-process worker, and no worker process at all
    app_dir = copy_example("fastapi", tmp_path)
    outbox = tmp_path / "outbox"
    env = environment(sqlite_url, outbox, SIDEQUEST_IN_PROCESS="1")
    port = free_port()
    web_log = tmp_path / "web.log"
    with process(uvicorn(port), app_dir, env, web_log) as web:
        wait_until_serving(port, web, web_log)
        # when a request asks for a greeting
        post(f"http://127.0.0.1:{port}/greet/grace")
        # then the app's own worker threads wrote it
        assert wait_for_file(outbox / "grace.txt", web_log) == "Hello, grace!\n"
    # and on TERM the lifespan ended (the worker stopped) and uvicorn exited by that signal, as it does
    assert "Application shutdown complete." in web_log.read_text()
    assert web.returncode in (0, -signal.SIGTERM), web_log.read_text()


def test_the_examples_own_tests_pass(tmp_path: Path) -> None:
    assert "2 passed" in run_example_tests("fastapi", tmp_path)
