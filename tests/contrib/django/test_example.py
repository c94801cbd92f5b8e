"""examples/django end to end: runserver takes a request, `manage.py sidequest_worker` runs the task,
and the example's own tests pass under Django's test runner and under pytest-django."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.contrib.apps import (
    BIN,
    copy_example,
    environment,
    fetch,
    free_port,
    get,
    post,
    process,
    wait_for_file,
    wait_until_serving,
)
from tests.support.worker import wait_for

pytestmark = pytest.mark.slow


def test_a_request_enqueues_a_task_that_the_worker_runs(tmp_path: Path, url: str) -> None:
    # given the example project under runserver and its worker command, on one store
    app_dir = copy_example("django", tmp_path)
    outbox = tmp_path / "outbox"
    env = environment(url, outbox)
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


def test_the_dashboard_is_served_to_staff_who_logged_in_through_djangos_admin(
    tmp_path: Path, sqlite_url: str
) -> None:
    # given the example under uvicorn (its asgi.py puts the dashboard in front of Django) and a superuser
    app_dir = copy_example("django", tmp_path)
    env = environment(
        sqlite_url,
        tmp_path / "outbox",
        DJANGO_SUPERUSER_USERNAME="boss",
        DJANGO_SUPERUSER_PASSWORD="pw-for-tests",
        DJANGO_SUPERUSER_EMAIL="boss@example.com",
    )
    manage = [str(BIN / "python"), "manage.py"]
    for command in (["migrate", "-v", "0"], ["createsuperuser", "--noinput"]):
        subprocess.run(
            [*manage, *command], cwd=app_dir, env=env, check=True, capture_output=True, timeout=120
        )
    port = free_port()
    web_log = tmp_path / "web.log"
    uvicorn = [str(BIN / "python"), "-m", "uvicorn", "mysite.asgi:application", "--port", str(port)]
    with process(uvicorn, app_dir, env, web_log) as web:
        wait_until_serving(port, web, web_log)
        base = f"http://127.0.0.1:{port}"
        # when an anonymous visitor opens the dashboard, they are sent to the admin's login page
        status, headers, _ = fetch(f"{base}/sidequest/")
        assert (status, headers["location"]) == (302, "/admin/login/?next=%2Fsidequest%2F")
        # when the superuser logs in there
        jar = http.cookiejar.CookieJar()
        _, _, form = fetch(f"{base}/admin/login/", cookies=jar)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token is not None
        fields = {
            "username": "boss",
            "password": "pw-for-tests",
            "csrfmiddlewaretoken": token[1],
            "next": "/sidequest/",
        }
        status, headers, _ = fetch(
            f"{base}/admin/login/",
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            cookies=jar,
        )
        assert (status, headers.get("location")) == (302, "/sidequest/")
        # then the dashboard opens for them, and Django's own pages still work
        status, _, page = fetch(f"{base}/sidequest/queues", cookies=jar)
        assert status == 200 and "/sidequest/static/" in page
        assert fetch(f"{base}/admin/", cookies=jar)[0] == 200
