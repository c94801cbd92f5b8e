"""The dashboard's Periodic page and a unique job's lock on its page, over HTTP on SQLite and Redis."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from sidequest import api
from sidequest.config import get_config
from sidequest.middleware import unique
from sidequest.periodic import Schedule
from sidequest.periodic.scheduler import Scheduler
from sidequest.stores import Store
from sidequest.web import create_app
from tests.periodic.feature_jobs import sync_account
from tests.periodic.test_scheduler import Report

HOSTILE = "<script>document.title='pwned'</script>"


@pytest.fixture
def client(shared_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(shared_store)) as test_client:
        yield test_client


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_the_periodic_page_shows_each_schedule_and_its_buttons_work(
    shared_store: Store, client: TestClient
) -> None:
    # given a worker that stored a schedule with a hostile argument
    schedule = Schedule(
        "nightly-report", "0 3 * * *", Report.definition.name, args=(HOSTILE,), tz="Asia/Jakarta"
    )
    Scheduler(get_config(), shared_store, [schedule]).sync()

    # when an operator opens the Periodic tab
    page = client.get("/periodic")

    # then the schedule is listed with its cron, time zone, queue and next run, and the argument is escaped
    assert page.status_code == 200
    assert 'data-schedule="nightly-report"' in page.text
    assert "0 3 * * *" in page.text and "Asia/Jakarta" in page.text and ">reports</a>" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert "none yet" in page.text

    # when they press Enqueue now, then Pause
    ran = client.post("/periodic/nightly-report", data={"run": "1", "csrf": csrf_of(page.text)})
    paused = client.post("/periodic/nightly-report", data={"pause": "1", "csrf": csrf_of(ran.text)})

    # then the job is in its queue, the page says so, and the schedule shows as paused
    [raw] = shared_store.queue_range("reports", 0, -1)
    jid = json.loads(raw)["jid"]
    assert f"Enqueued nightly-report now (jid {jid})" in ran.text
    assert "pending" in ran.text
    assert 'class="badge paused"' in paused.text and "Resume" in paused.text
    assert api.Periodic(shared_store).get("nightly-report").paused

    # and a POST without the page's token changes nothing
    refused = client.post("/periodic/nightly-report", data={"resume": "1"}, follow_redirects=False)
    assert refused.status_code == 403 and api.Periodic(shared_store).get("nightly-report").paused


def test_a_scheduled_unique_jobs_page_shows_that_it_holds_its_lock(
    shared_store: Store, client: TestClient
) -> None:
    unique.install()
    jid = sync_account.perform_in(3600, 7)
    [entry] = api.ScheduledSet(shared_store).page(1).items

    page = client.get(f"/scheduled/{entry.key}")

    assert page.status_code == 200
    assert entry.jid == jid
    assert re.search(r'id="unique-lock">held by this job', page.text)
