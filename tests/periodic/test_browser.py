"""The Periodic tab in a real browser (Debian's chromium via Playwright), with a real worker firing an
every-second schedule: the operator sees runs arrive, pauses the schedule and enqueues it by hand."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sidequest import api
from sidequest.stores import open_store
from tests.support.worker import wait_for, worker_command
from tests.web.conftest import Served, browser, page  # noqa: F401 - fixtures shared with the dashboard tests

pytestmark = pytest.mark.slow

JOBS = Path(__file__).with_name("periodic_jobs.py")
ROW = 'tr[data-schedule="every-second"]'


def reloaded_text(tab: Any, selector: str) -> str:
    """The text of selector after reloading the page, as an operator pressing F5 would see it."""
    tab.reload()
    return str(tab.locator(selector).inner_text())


def press(tab: Any, selector: str) -> None:
    with tab.expect_navigation():
        tab.click(selector)


def test_an_operator_watches_pauses_and_runs_a_schedule(page: Any, tmp_path: Path) -> None:  # noqa: F811
    # given a worker firing the every-second schedule and the dashboard served on the same SQLite file
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    config = tmp_path / "sidequest.toml"
    config.write_text("heartbeat_interval = 0.5\nprocess_ttl = 2\npoll_interval = 0.1\n")
    env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt")}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    worker = subprocess.Popen(
        worker_command(JOBS, url, config), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    store = open_store(url)
    served: Served | None = None
    try:
        wait_for(lambda: (tmp_path / "ledger.txt").exists(), timeout=30, what="the first tick to run")
        served = Served(url, tmp_path)

        # when the operator opens the Periodic tab
        page.goto(served.base + "/periodic")

        # then the schedule is there, with its last job done
        wait_for(lambda: "done" in reloaded_text(page, ROW), timeout=20, what="a finished run")
        assert "* * * * * *" in page.locator(ROW).inner_text()

        # when they pause it
        press(page, 'tr[data-schedule="every-second"] button[name="pause"]')

        # then the page says so and the store stops enqueuing its ticks
        assert "Paused every-second" in page.locator(".flash").inner_text()
        assert "paused" in page.locator('tr[data-schedule="every-second"] .badge').inner_text()
        assert api.Periodic(store).get("every-second").paused

        # when they press Enqueue now on the paused schedule
        press(page, 'tr[data-schedule="every-second"] button[name="run"]')

        # then one job runs although the schedule stays paused
        flash = page.locator(".flash").inner_text()
        assert flash.startswith("Enqueued every-second now (jid ")
        jid = flash.split("(jid ")[1].split(")")[0]
        wait_for(
            lambda: jid in (tmp_path / "ledger.txt").read_text(), timeout=20, what="the manual job to run"
        )
        assert api.Periodic(store).get("every-second").paused
    finally:
        if served is not None:
            served.stop()
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        store.close()
