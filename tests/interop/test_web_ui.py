"""Issue 5, item 5: Sidekiq 6.4's own Web UI renders sidequest's data (processes, queues and sets)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import pytest

import sidequest
from sidequest.stores.redis import RedisStore
from tests.interop.conftest import Interop, wait_for
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

#: Text that appears on a page only when Sidekiq's views failed on our data.
ERROR_TEXT = (
    "Internal Server Error",
    "NoMethodError",
    "undefined method",
    "NameError",
    "ParserError",
    "Errno",
)


#: One browser session: Sidekiq 6.4 keeps its CSRF token in the session cookie.
browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def get(base: str, path: str) -> tuple[int, str]:
    try:
        with browser.open(base + path, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def press(base: str, page: str, action: str, form: dict[str, str]) -> tuple[int, str]:
    """Press a button of a page as a browser would: its form, with the page's CSRF token, posted to action."""
    status, body = get(base, page)
    assert status == 200, body[:2000]
    match = re.search(r"name='authenticity_token' value='([^']+)'", body)
    assert match, f"no CSRF token on {page}"
    data = urlencode({**form, "authenticity_token": match.group(1)}).encode()
    with browser.open(base + action, data=data, timeout=10) as response:  # follows the redirect back
        return response.status, response.read().decode()


def test_sidekiqs_web_ui_shows_sidequests_processes_queues_and_sets(
    interop: Interop, store: RedisStore
) -> None:
    # given retry and dead entries written by a sidequest worker
    failing = sidequest.enqueue("FailingJob", [7], backtrace=True)
    doomed = sidequest.enqueue("DoomedJob", [8], retry=0)
    assert interop.wait(interop.worker("--burst")) == 0
    # and a scheduled job, a job waiting in a queue no one works, and a sidequest worker running a long job
    scheduled = sidequest.enqueue("HardJob", ["next hour"], at=time.time() + 3600)
    waiting = sidequest.enqueue("HardJob", ["waiting"], queue="parked")
    release = interop.tmp_path / "release"
    sleepy = sidequest.enqueue("SleepyJob", [str(release)])
    worker = interop.worker("--sidekiq-version", "6", "-c", "3", "-g", "web-ui")
    wait_for(lambda: len(store.work()) == 1, what="the long job in the running-jobs hash")

    # when Sidekiq's Web UI is served from the same Redis
    port = free_port()
    interop.web(port)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base), timeout=20, what="the Web UI to listen")
    retry_key = _key(interop.api("retries")[0])
    dead_key = _key(interop.api("dead")[0])
    scheduled_key = _key(interop.api("scheduled")[0])

    # then every page renders with sidequest's jobs and processes on it
    identity = store.processes()[0].identity
    hostname, pid = identity.split(":")[:2]
    pages = {
        "/": ["Dashboard"],
        "/busy": [f"{hostname}:{pid}", "web-ui", sleepy, "SleepyJob"],
        "/queues": ["parked", "default"],
        "/queues/parked": [waiting, "HardJob", "waiting"],
        "/retries": [failing, "FailingJob", "ValueError: boom 7"],
        f"/retries/{quote(retry_key)}": [failing, "FailingJob", "ValueError", "boom 7", "python_jobs.py"],
        "/scheduled": [scheduled, "HardJob", "next hour"],
        f"/scheduled/{quote(scheduled_key)}": [scheduled, "HardJob"],
        "/morgue": [doomed, "DoomedJob", "RuntimeError: fatal 8"],
        f"/morgue/{quote(dead_key)}": [doomed, "DoomedJob", "fatal 8"],
    }
    for path, expected in pages.items():
        status, body = get(base, path)
        assert status == 200, f"GET {path} -> {status}:\n{body[:2000]}"
        assert not [text for text in ERROR_TEXT if text in body], f"GET {path} shows an error:\n{body[:2000]}"
        missing = [text for text in expected if text not in body]
        assert not missing, f"GET {path} lacks {missing}"

    # and the dashboard's live numbers count sidequest's work
    status, body = get(base, "/stats")
    assert status == 200
    numbers = json.loads(body)["sidekiq"]
    assert (numbers["processed"], numbers["failed"]) == (2, 2)
    assert (numbers["busy"], numbers["processes"]) == (1, 1)
    assert (numbers["enqueued"], numbers["scheduled"], numbers["retries"], numbers["dead"]) == (1, 1, 1, 1)
    parked = interop.api("queue", "parked")
    assert parked["size"] == 1 and 0 <= parked["latency"] < 60

    # when an operator presses "Retry Now" on sidequest's retry
    retry_page = f"/retries/{quote(retry_key)}"
    assert press(base, retry_page, retry_page, {"retry": "Retry Now"})[0] == 200

    # then the sidequest worker runs that job again
    wait_for(
        lambda: [row["jid"] for row in interop.ledger()].count(failing) == 2, what="the retried job to run"
    )

    # when the operator presses "Quiet" on the sidequest process
    assert press(base, "/busy", "/busy", {"identity": identity, "quiet": "Quiet"})[0] == 200

    # then it goes quiet and the Busy page says so
    wait_for(lambda: store.processes()[0].quiet, timeout=10, what="the quiet flag")
    status, body = get(base, "/busy")
    assert status == 200 and '<span class="label label-danger">quiet</span>' in body

    # when the long job finishes and the operator presses "Stop"
    release.touch()
    wait_for(lambda: not store.work(), what="the long job to finish")
    assert press(base, "/busy", "/busy", {"identity": identity, "stop": "Stop"})[0] == 200

    # then the worker exits cleanly by itself and leaves the Busy page
    assert interop.wait(worker, timeout=20) == 0, interop.output(worker)
    status, body = get(base, "/busy")
    assert status == 200 and f"{hostname}:{pid}" not in body


def _answers(base: str) -> bool:
    try:
        return get(base, "/stats")[0] == 200
    except OSError:
        return False


def _key(entry: dict[str, object]) -> str:
    """The Web UI's key for a sorted-set entry: "<score>-<jid>", score as Ruby prints a Float."""
    return f"{entry['score']!r}-{entry['jid']}"
