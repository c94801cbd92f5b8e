"""Issue 15, must-hold 3: the dashboard in a real browser (Debian's chromium via Playwright).

Each test serves the dashboard with `sidequest web` on a real store, runs a real worker, and does
what an operator does: look at every page, retry, kill and delete jobs, quiet and stop a process,
pause a queue, watch the live graph. The screenshots in docs/screenshots are taken here
(SIDEQUEST_SCREENSHOTS=docs/screenshots, see scripts/screenshots).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

import sidequest
from sidequest import api
from tests.support.worker import wait_for
from tests.web.conftest import Served, WebWorker, snap

pytestmark = pytest.mark.slow

HOSTILE_SCRIPT = "<script>document.title='pwned'</script>"
HOSTILE_ATTR = '"><img src=x onerror="document.title=\'pwned\'">'


#: True once the live graph's processed line has a point above its baseline (y = 200).
RISEN = (
    "() => Array.from(document.querySelectorAll('#live-graph polyline.processed')).some("
    "l => l.getAttribute('points').split(' ').some(p => Number(p.split(',')[1]) < 200))"
)


def console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def reload_until(page: Any, condition: Any, what: str, timeout: float = 30) -> None:
    """Reload the page until condition(page) holds, as an operator pressing F5 would."""

    def check() -> bool:
        page.reload()
        return bool(condition(page))

    wait_for(check, timeout=timeout, what=what)


def press(page: Any, selector: str) -> None:
    """Click a button that submits a form, and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def test_every_page_loads_and_shows_the_stores_jobs(
    served: Served, start_worker: Any, page: Any, tmp_path: Path, store_url: str
) -> None:
    # given a failed job waiting for a retry, a dead one, a scheduled one, jobs waiting in a queue
    # no worker takes, and a worker running a long job
    sidequest.enqueue("web.echo_error", ["card declined for order 1042"], backtrace=True)
    for order, reason in ((1043, "gateway timeout"), (1051, "insufficient funds")):
        sidequest.enqueue("web.echo_error", [f"{reason} for order {order}"])
    for n in range(25):
        sidequest.enqueue("web.record", [f"receipt {n}"], queue="mailers" if n % 2 else "default")
    sidequest.enqueue("web.doomed", ["order 977"], retry=0)
    sidequest.enqueue("web.record", ["next week"], at=time.time() + 7 * 86400)
    for n in range(3):
        sidequest.enqueue("web.record", [f"report {n}"], queue="reports")
    release = tmp_path / "release-report-42"
    sidequest.enqueue("web.hold", [release.name])
    worker = start_worker("-q", "default", "-q", "mailers", "-g", "web-test")
    wait_for(lambda: api.RetrySet().size() == 3 and api.DeadSet().size() == 1, what="the failures to land")
    wait_for(lambda: len(api.WorkSet().list()) == 1, what="the long job to show as running")
    wait_for(lambda: api.Metrics().top_jobs(), what="the worker's metrics to arrive with a heartbeat")
    errors = console_errors(page)

    # when the operator opens every page
    expectations = {
        "/": ["Dashboard", "History", "SQLite" if store_url.startswith("sqlite") else "Redis"],
        "/busy": ["web-test", "web.hold", release.name, "Quiet"],
        "/queues": ["reports", "default"],
        "/queues/reports": ["report 0", "report 2", "web.record"],
        "/retries": ["web.echo_error", "card declined for order 1042", "insufficient funds for order 1051"],
        "/scheduled": ["web.record", "next week"],
        "/morgue": ["web.doomed", "order 977 cannot succeed"],
        "/metrics": ["web.echo_error", "web.record", "successful runs by run time"],
    }
    shots = {
        "/": "dashboard",
        "/busy": "busy",
        "/queues": "queues",
        "/retries": "retries",
        "/metrics": "metrics",
    }
    for path, texts in expectations.items():
        page.goto(served.base + path)
        body = page.inner_text("body")
        # then each shows its data, with no script error and nothing the CSP had to block
        missing = [text for text in texts if text not in body]
        assert not missing, f"{path} lacks {missing}:\n{body[:1500]}"
        if path == "/":  # let the live graph draw a few jobs before the screenshot
            page.wait_for_function("() => Number(document.getElementById('live-graph').dataset.polls) >= 1")
            for n in range(12):
                sidequest.enqueue("web.record", [f"live {n}"])
            page.wait_for_function(RISEN, timeout=20_000)
        if path in shots:
            snap(page, shots[path])
    retry = next(entry for entry in api.RetrySet() if "1042" in entry.args[0])
    page.goto(f"{served.base}/retries/{retry.key}")
    detail = page.inner_text("#job-info")
    assert "card declined for order 1042" in detail and "ValueError" in detail and "web_jobs.py" in detail
    # (the screenshot shows a job without a backtrace: a backtrace holds this machine's paths)
    plain = next(entry for entry in api.RetrySet() if "1051" in entry.args[0])
    page.goto(f"{served.base}/retries/{plain.key}")
    assert "insufficient funds for order 1051" in page.inner_text("#job-info")
    snap(page, "retry-detail")
    assert not errors, errors

    # and the summary bar counts what the store holds, with separators and relative times
    page.goto(served.base + "/")
    assert page.inner_text("#summary-retries") == "3" and page.inner_text("#summary-dead") == "1"
    page.goto(served.base + "/busy")
    started = page.locator("#running time").first
    assert re.search(r"(ago|just now)$", started.inner_text())
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", started.get_attribute("title"))
    release.touch()
    worker.stop()


def test_retry_now_runs_the_job_again(served: Served, start_worker: Any, page: Any) -> None:
    # given a job that failed once and waits an hour for its next try
    sidequest.enqueue("web.fail_once", ["invoice 7"])
    worker: WebWorker = start_worker()
    wait_for(lambda: api.RetrySet().size() == 1, what="the failure in Retries")

    # when the operator ticks it on the Retries page and presses "Retry now"
    page.goto(served.base + "/retries")
    assert "first attempt of invoice 7 fails" in page.inner_text("#entries")
    page.check("#entries input[name=key]")
    press(page, "#bulk button[value=retry]")

    # then the page says so, and the worker runs it again, successfully
    assert "1 job retried" in page.inner_text(".flash")
    wait_for(lambda: "done invoice 7" in worker.ledger(), what="the retried job to run")
    reload_until(page, lambda p: "No retries" in p.inner_text("#entries"), "Retries to empty")
    assert page.inner_text("#summary-retries") == "0"


def test_kill_one_delete_one_from_the_detail_and_list_pages(
    served: Served, start_worker: Any, page: Any
) -> None:
    # given two failed jobs in Retries
    sidequest.enqueue("web.echo_error", ["kill me"])
    sidequest.enqueue("web.echo_error", ["delete me"])
    start_worker()
    wait_for(lambda: api.RetrySet().size() == 2, what="both failures in Retries")
    doomed = next(e for e in api.RetrySet() if e.args == ["kill me"])

    # when the operator opens one and presses Kill
    page.goto(f"{served.base}/retries/{doomed.key}")
    press(page, "#entry-actions button[value=kill]")

    # then it is in Dead, not in Retries
    assert "1 job moved to Dead" in page.inner_text(".flash")
    assert "kill me" not in page.inner_text("#entries") and "delete me" in page.inner_text("#entries")
    page.goto(served.base + "/morgue")
    assert "kill me" in page.inner_text("#entries")

    # when the operator ticks the other on the Retries page and presses Delete
    page.goto(served.base + "/retries")
    page.check("#entries input[name=key]")
    press(page, "#bulk button[value=delete]")

    # then it is gone everywhere
    assert "1 job deleted" in page.inner_text(".flash")
    assert "No retries" in page.inner_text("#entries")
    assert api.RetrySet().size() == 0 and api.DeadSet().size() == 1

    # and "Delete all" empties Dead after the confirm prompt
    page.goto(served.base + "/morgue")
    press(page, "button[name=delete]")
    assert "No dead jobs" in page.inner_text("#entries") and api.DeadSet().size() == 0


def test_quiet_a_process_and_see_it_marked_then_stop_it(served: Served, start_worker: Any, page: Any) -> None:
    # given a running worker on the Busy page
    worker: WebWorker = start_worker("-g", "quiet-me")
    wait_for(lambda: len(api.ProcessSet().list()) == 1, what="the worker's heartbeat")
    page.goto(served.base + "/busy")
    row = page.locator("#processes tbody tr", has_text="quiet-me")
    assert "quiet" not in row.locator(".badge").all_inner_texts()

    # when the operator presses its Quiet button
    press(page, "#processes tbody tr button[name=quiet]")

    # then after its next heartbeat the row is marked quiet and has no Quiet button
    reload_until(page, lambda p: "quiet" in row.locator(".badge").all_inner_texts(), "the quiet badge")
    assert row.locator("button[name=quiet]").count() == 0
    snap(page, "busy-quiet")

    # when the operator presses Stop, the worker exits by itself and leaves the page
    press(page, "#processes tbody tr button[name=stop]")
    assert worker.process.wait(30) == 0, worker.output()
    reload_until(page, lambda p: "No live processes" in p.inner_text("#processes"), "the process to go")


def test_a_paused_queue_keeps_its_jobs_waiting_until_resumed(
    served: Served, start_worker: Any, page: Any
) -> None:
    # given a worker on two queues and the operator on the "default" queue's page
    worker: WebWorker = start_worker("-q", "default", "-q", "other")
    sidequest.enqueue("web.record", ["warm-up"])
    wait_for(lambda: "warm-up" in worker.ledger(), what="the worker to run a first job")
    page.goto(served.base + "/queues/default")

    # when the operator presses Pause and jobs arrive on both queues
    press(page, "button[name=pause]")
    assert "paused" in page.inner_text("h1")
    for n in range(3):
        sidequest.enqueue("web.record", [f"waits {n}"])
    sidequest.enqueue("web.record", ["other runs"], queue="other")

    # then the worker takes the other queue's job while the paused queue's jobs wait on its page
    wait_for(lambda: "other runs" in worker.ledger(), what="the other queue's job to run")
    page.reload()
    assert all(f"waits {n}" in page.inner_text("#jobs") for n in range(3))
    assert not any(line.startswith("waits") for line in worker.ledger())
    page.goto(served.base + "/queues")
    assert "paused" in page.locator("#queues tr", has_text="default").inner_text()
    snap(page, "queues-paused")

    # when the operator presses Resume, the jobs run
    press(page, "#queues tr:has-text('default') button[name=resume]")
    wait_for(lambda: sum(line.startswith("waits") for line in worker.ledger()) == 3, what="the jobs to run")
    reload_until(page, lambda p: "paused" not in p.inner_text("#queues"), "the paused badge to go")


def test_the_live_graph_moves_as_jobs_are_processed(served: Served, start_worker: Any, page: Any) -> None:
    # given the dashboard open at a 1 second poll interval and a worker
    errors = console_errors(page)
    page.goto(served.base + "/")
    page.select_option("#poll-interval", "1")
    worker: WebWorker = start_worker()
    page.wait_for_function("() => Number(document.getElementById('live-graph').dataset.polls) >= 2")
    flat = page.get_attribute("#live-graph polyline.processed", "points")

    # when jobs are processed
    for n in range(20):
        sidequest.enqueue("web.record", [f"live {n}"])
    wait_for(lambda: len(worker.ledger()) == 20, what="the jobs to run")

    # then the processed line rises above the baseline, and the summary bar counts them
    page.wait_for_function(RISEN, timeout=20_000)
    assert page.get_attribute("#live-graph polyline.processed", "points") != flat
    page.wait_for_function(
        "() => document.getElementById('summary-processed').textContent === '20'", timeout=20_000
    )
    # and the chosen interval is remembered for the next visit
    page.reload()
    assert page.eval_on_selector("#poll-interval", "el => el.value") == "1"
    assert not errors, errors


def test_hostile_job_data_runs_nothing_in_the_browser(
    served: Served, start_worker: Any, browser: Any
) -> None:
    # given jobs whose args and error messages carry script and attribute injections
    sidequest.enqueue("web.echo_error", [HOSTILE_SCRIPT + HOSTILE_ATTR])
    sidequest.enqueue("web.record", [HOSTILE_ATTR, HOSTILE_SCRIPT], queue="parked")
    start_worker()
    wait_for(lambda: api.RetrySet().size() == 1, what="the hostile failure in Retries")
    retry = api.RetrySet().page().items[0]
    # and a browser with the CSP switched off, so escaping is the only defence left
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # when the operator opens the pages that show them
    for path in ("/retries", f"/retries/{retry.key}", "/queues/parked", "/busy", "/"):
        page.goto(served.base + path)
        # then the text is shown as text, and nothing ran or was injected
        assert page.title().endswith("sidequest"), path
        assert page.locator("img").count() == 0, path
        if path != "/busy" and path != "/":
            assert HOSTILE_SCRIPT in page.inner_text("main"), path
    assert not dialogs
    context.close()
