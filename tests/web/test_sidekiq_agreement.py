"""Issue 15, must-hold 6: Sidekiq 6.4's own Web UI and our dashboard agree on the same Redis.

Both are served at once over one private Redis holding sidequest's and Ruby Sidekiq's processes,
queues and sets; their counters, queue sizes, set sizes and processes must match.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

import sidequest
from sidequest.config import get_config
from tests.interop.conftest import Interop, interop, ruby_sidekiq  # noqa: F401 - fixtures
from tests.support.redis_server import free_port
from tests.support.worker import wait_for
from tests.web.conftest import Served, WebWorker

pytestmark = pytest.mark.slow

COUNTERS = ("processed", "failed", "busy", "processes", "enqueued", "scheduled", "retries", "dead")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def answers(url: str) -> bool:
    try:
        fetch(url)
        return True
    except OSError:
        return False


def test_sidekiqs_web_ui_and_ours_show_the_same_numbers_and_processes(
    interop: Interop,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    # given sidequest's failures (a retry and a dead job), work in two queues, a scheduled job,
    get_config().update(url=interop.redis_url)
    sidequest.enqueue("web.echo_error", ["boom"])
    sidequest.enqueue("web.doomed", ["fatal"], retry=0)
    sidequest.enqueue("web.record", ["done"])
    burst = WebWorker(interop.redis_url, tmp_path, "--burst")
    assert burst.process.wait(60) == 0, burst.output()
    sidequest.enqueue("web.record", ["next hour"], at=time.time() + 3600)
    for n in range(3):
        sidequest.enqueue("HardJob", [n], queue="parked")
    sidequest.enqueue("HardJob", ["ruby only"], queue="rubyparked")
    # and a sidequest worker busy with a long job next to a Ruby Sidekiq process
    sidequest.enqueue("web.hold", ["release"])
    worker = WebWorker(interop.redis_url, tmp_path, "--sidekiq-version", "6", "-c", "3", "-g", "py")
    interop.sidekiq("rubyidle")
    wait_for(lambda: len(interop.api("processes")) == 2, what="both processes to beat")
    wait_for(lambda: len(interop.api("workers")) == 1, what="the long job to show as running")

    # when both dashboards are served from that Redis
    ruby_port = free_port()
    interop.web(ruby_port)
    theirs = f"http://127.0.0.1:{ruby_port}"
    wait_for(lambda: answers(theirs + "/stats"), timeout=30, what="Sidekiq's Web UI")
    served = Served(interop.redis_url, tmp_path)
    try:
        compare(theirs, served.base, interop)
    finally:
        (tmp_path / "release").touch()
        served.stop()
        worker.stop()


def compare(theirs: str, ours: str, interop: Interop) -> None:  # noqa: F811 - not the fixture
    # then the counters on both agree, with every one of them counted
    their_stats = json.loads(fetch(theirs + "/stats"))["sidekiq"]
    our_stats = json.loads(fetch(ours + "/stats"))["sidekiq"]
    assert {k: our_stats[k] for k in COUNTERS} == {k: their_stats[k] for k in COUNTERS}
    assert {k: our_stats[k] for k in COUNTERS} == {
        "processed": 3,
        "failed": 2,
        "busy": 1,
        "processes": 2,
        "enqueued": 4,
        "scheduled": 1,
        "retries": 1,
        "dead": 1,
    }
    # and so do the queue sizes
    assert json.loads(fetch(ours + "/stats/queues")) == json.loads(fetch(theirs + "/stats/queues"))

    # and both Busy pages list the same processes (a Python and a Ruby one)
    their_busy = fetch(theirs + "/busy")
    our_busy = fetch(ours + "/busy")
    their_identities = set(re.findall(r'name="identity" value="([^"]+)"', their_busy))
    our_identities = set(re.findall(r'data-identity="([^"]+)"', our_busy))
    assert len(our_identities) == 2 and our_identities == their_identities
    for process in interop.api("processes"):
        name = f"{process['hostname']}:{process['pid']}"
        assert name in their_busy and name in our_busy

    # and each sorted set page shows the same jobs on both
    for path in ("/retries", "/scheduled", "/morgue", "/queues/parked"):
        their_jids = set(re.findall(r"\b[0-9a-f]{24}\b", fetch(theirs + path)))
        our_jids = set(re.findall(r"\b[0-9a-f]{24}\b", fetch(ours + path)))
        assert our_jids and our_jids == their_jids, path
