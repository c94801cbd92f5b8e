"""Issue 15: the list pages over plain HTTP on real stores: paging, order, search, and the actions
that move jobs (bulk, all, from a detail page, a queued job's Delete)."""

from __future__ import annotations

import html
import re
import signal
import time
from pathlib import Path

from starlette.testclient import TestClient

import sidequest
from sidequest import api
from tests.support.worker import wait_for
from tests.web.conftest import WebWorker, csrf_of


def rows(page: str, table: str = "entries") -> list[str]:
    """The body rows of a list table, as text (tags stripped)."""
    body = page.split(f'id="{table}"', 1)[1].split("</tbody>", 1)[0]
    return [
        re.sub(r"<[^>]+>", " ", row) for row in re.findall(r'<tr data-jid="[^"]*">(.*?)</tr>', body, re.S)
    ]


def test_sets_page_25_at_a_time_in_sidekiqs_order_and_search_by_class_or_text(client: TestClient) -> None:
    # given 55 scheduled report jobs an hour apart and 5 scheduled mails
    now = time.time()
    for n in range(55):
        sidequest.enqueue("Report", [f"report-{n:02d}"], at=now + 3600 * (n + 1))
    for n in range(5):
        sidequest.enqueue("Mail", [f"mail-{n}"], at=now + 60 * (n + 1))

    # when the operator opens Scheduled
    first = rows(client.get("/scheduled").text)
    # then 25 rows show, the next to run first (Sidekiq's order), with links to three pages
    assert len(first) == 25 and "mail-0" in first[0] and "report-19" in first[-1]
    assert 'href="/scheduled?direction=asc&amp;page=3"' in client.get("/scheduled").text

    # when the operator asks for page 3, 50 a page, or the latest first
    assert len(rows(client.get("/scheduled?page=3").text)) == 10
    assert len(rows(client.get("/scheduled?count=50").text)) == 50
    assert "report-54" in rows(client.get("/scheduled?direction=desc").text)[0]

    # when the operator searches by class, by text, or both
    by_class = rows(client.get("/scheduled", params={"class": "Mail"}).text)
    by_text = rows(client.get("/scheduled", params={"substr": "report-3"}).text)
    both = rows(client.get("/scheduled", params={"class": "Report", "substr": "mail"}).text)
    # then only the matching jobs show
    assert len(by_class) == 5 and all("Mail" in row for row in by_class)
    assert len(by_text) == 10 and all("report-3" in row for row in by_text)
    assert both == []


def test_search_finds_text_with_quotes_and_backslashes_as_the_page_shows_it(client: TestClient) -> None:
    # given scheduled jobs whose args hold quotes and a Windows path
    now = time.time()
    sidequest.enqueue("Mail", ['say "hi" to Ann'], at=now + 60)
    sidequest.enqueue("Backup", ["C:\\temp\\new"], at=now + 120)
    sidequest.enqueue("Mail", ["say hi to Bob"], at=now + 180)
    # when the operator types the text as the job holds it, or as the list shows it (JSON)
    typed = rows(client.get("/scheduled", params={"substr": 'say "hi"'}).text)
    shown = rows(client.get("/scheduled", params={"substr": 'say \\"hi\\"'}).text)
    path = rows(client.get("/scheduled", params={"substr": "C:\\temp\\new"}).text)
    # then the job is found each way
    assert len(typed) == 1 and "say \\&#34;hi\\&#34; to Ann" in typed[0]
    assert shown == typed
    assert len(path) == 1 and "C:\\\\temp" in path[0]


def test_a_queue_pages_its_jobs_and_deletes_one(client: TestClient) -> None:
    # given 30 jobs in a queue
    jids = [sidequest.enqueue("Hard", [n], queue="mailers") for n in range(30)]
    # when the operator opens the queue: newest first, 25 a page, 5 on page 2
    page = client.get("/queues/mailers")
    assert len(rows(page.text, "jobs")) == 25 and "[29]" in rows(page.text, "jobs")[0]
    assert len(rows(client.get("/queues/mailers?page=2").text, "jobs")) == 5
    assert "[0]" in rows(client.get("/queues/mailers?direction=asc").text, "jobs")[0]

    # when the operator presses Delete on the newest job
    form = re.search(r'action="/queues/mailers/delete">.*?name="job" value="([^"]*)"', page.text, re.S)
    assert form
    raw = html.unescape(form.group(1))
    response = client.post(
        "/queues/mailers/delete", data={"job": raw, "csrf": csrf_of(page.text)}, follow_redirects=True
    )
    # then that job is gone and the page says so, once
    assert f"Deleted job {jids[29]}" in response.text
    assert "Deleted job" not in client.get("/queues/mailers").text
    assert api.Queue("mailers").size() == 29 and api.Queue("mailers").find_job(jids[29]) is None


def test_bulk_and_all_actions_move_the_jobs_they_name(
    client: TestClient, store_url: str, tmp_path: Path
) -> None:
    # given three failed jobs in Retries and two scheduled jobs
    for n in range(3):
        sidequest.enqueue("web.echo_error", [f"failure {n}"])
    worker = WebWorker(store_url, tmp_path, "--burst")
    assert worker.process.wait(60) == 0, worker.output()
    later = [sidequest.enqueue("Report", [n], at=time.time() + 3600, queue="reports") for n in range(2)]
    token = csrf_of(client.get("/retries").text)

    # when the operator ticks two retries and presses Kill
    two = [entry.key for entry in api.RetrySet().page().items[:2]]
    response = client.post("/retries", data={"key": two, "action": "kill", "csrf": token})
    # then those two are dead and one retry is left
    assert "2 jobs moved to Dead" in response.text
    assert api.RetrySet().size() == 1 and api.DeadSet().size() == 2

    # when the operator presses "Retry all" on Dead
    response = client.post("/morgue/all/retry", data={"csrf": token})
    # then both go back to their queue
    assert "2 jobs retried" in response.text and api.DeadSet().size() == 0
    assert api.Queue("default").size() == 2

    # when the operator opens a scheduled job and presses "Add to queue"
    entry = api.ScheduledSet().find_job(later[0])
    assert entry is not None
    response = client.post(f"/scheduled/{entry.key}", data={"action": "add_to_queue", "csrf": token})
    # then it waits in its queue now, and the other is still scheduled
    assert "1 job added to their queue" in response.text
    assert api.Queue("reports").find_job(later[0]) is not None and api.ScheduledSet().size() == 1

    # when an action a page does not offer is posted, nothing moves
    response = client.post("/scheduled/all/kill", data={"csrf": token})
    assert response.status_code == 404 and api.ScheduledSet().size() == 1
    # and acting on a job that is gone says so
    response = client.post(f"/scheduled/{entry.key}", data={"action": "delete", "csrf": token})
    assert "had already moved on" in response.text


def test_busy_shows_jobs_held_by_a_killed_process(client: TestClient, store_url: str, tmp_path: Path) -> None:
    # given a worker killed with SIGKILL in the middle of a job, and no live worker to recover it
    jid = sidequest.enqueue("web.hold", ["never-released"])
    worker = WebWorker(store_url, tmp_path, ttl=0.8, heartbeat=0.2)  # the only worker: a short TTL is safe
    wait_for(lambda: len(api.WorkSet().list()) == 1, what="the job to run")
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(10)
    wait_for(lambda: api.HeldByDead().size() == 1, what="the process record to expire")

    # when the operator opens Busy
    page = client.get("/busy").text

    # then the job is listed as held by a stopped process, with what will happen to it
    held = rows(page, "held")
    assert len(held) == 1 and jid in held[0] and "never-released" in held[0]
    assert "1 job was running in processes whose heartbeat stopped" in page
    assert "No live processes" in page
