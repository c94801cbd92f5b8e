"""examples/flask end to end: `flask run` takes a request, `flask sidequest worker` runs the job."""

from __future__ import annotations

import json
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


def test_a_request_enqueues_a_job_that_the_worker_runs_in_the_app_context(tmp_path: Path, url: str) -> None:
    # given the example app served by `flask run` and its worker, on one store
    app_dir = copy_example("flask", tmp_path)
    outbox = tmp_path / "outbox"
    env = environment(url, outbox, DASHBOARD_PASSWORD="s3cret")
    port = free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    flask = [str(BIN / "flask"), "--app", "app"]
    with (
        process([*flask, "run", "--port", str(port)], app_dir, env, web_log) as web,
        process([*flask, "sidequest", "worker", "-c", "2"], app_dir, env, worker_log) as worker,
    ):
        wait_until_serving(port, web, web_log)
        # when a request asks for a greeting
        reply = json.loads(post(f"http://127.0.0.1:{port}/greet/ada"))
        # then the worker wrote it, reading OUTBOX from app.config (so it ran in the app context)
        assert len(reply["jid"]) == 24
        assert wait_for_file(outbox / "ada.txt", worker_log, web_log) == "Hello, ada!\n"
        # and the dashboard under /sidequest answers only to the app's auth check
        dashboard = f"http://127.0.0.1:{port}/sidequest/"
        assert fetch(dashboard)[0] == 401
        status, _, page = fetch(dashboard + "queues", headers=basic_auth("admin", "s3cret"))
        assert status == 200 and "/sidequest/static/" in page
    # and the worker stopped cleanly on TERM
    assert worker.returncode == 0, worker_log.read_text()


def test_the_examples_own_tests_pass(tmp_path: Path) -> None:
    assert "1 passed" in run_example_tests("flask", tmp_path)
