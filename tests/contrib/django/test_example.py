"""examples/django end to end: runserver takes a request, `manage.py sidequest_worker` runs the task,
and the example's own tests pass under Django's test runner and under pytest-django."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.contrib.apps import (
    BIN,
    copy_example,
    environment,
    free_port,
    get,
    post,
    process,
    wait_for_file,
    wait_until_serving,
)
from tests.support.worker import wait_for

pytestmark = pytest.mark.slow


def test_a_request_enqueues_a_task_that_the_worker_runs(tmp_path: Path, store_url: str) -> None:
    # given the example project under runserver and its worker command, on one store
    app_dir = copy_example("django", tmp_path)
    outbox = tmp_path / "outbox"
    env = environment(store_url, outbox)
    port = free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    manage = [str(BIN / "python"), "manage.py"]
    with (
        process([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], app_dir, env, web_log) as web,
        process([*manage, "sidequest_worker", "-c", "2"], app_dir, env, worker_log) as worker,
    ):
        wait_until_serving(port, web, web_log)
        # when a request asks for a greeting
        reply = json.loads(post(f"http://127.0.0.1:{port}/greet/ada"))
        assert reply["status"] == "READY"
        # then the worker wrote it, and the result says so through the web process
        assert wait_for_file(outbox / "ada.txt", worker_log, web_log) == "Hello, ada!\n"

        def finished() -> bool:
            return json.loads(get(f"http://127.0.0.1:{port}/results/{reply['id']}"))["status"] == "SUCCESSFUL"

        wait_for(finished, timeout=30, what="the result to say SUCCESSFUL")
        result = json.loads(get(f"http://127.0.0.1:{port}/results/{reply['id']}"))
        assert result["return_value"] == str(outbox / "ada.txt")
    assert worker.returncode == 0, worker_log.read_text()


@pytest.mark.parametrize(
    "command",
    [["python", "manage.py", "test"], ["pytest", "-q", "-p", "no:cacheprovider"]],
    ids=["django-test-runner", "pytest-django"],
)
def test_the_examples_own_tests_pass(tmp_path: Path, command: list[str]) -> None:
    app_dir = copy_example("django", tmp_path)
    env = environment(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "outbox")
    finished = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    output = finished.stdout + finished.stderr
    assert ("Ran 1 test" in output and "OK" in output) or "2 passed" in output
