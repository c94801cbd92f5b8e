"""Dashboard test fixtures: a served dashboard (a real `sidequest web` process), a real worker, chromium.

Browser tests drive Debian's chromium through Playwright (never a downloaded browser). Without
chromium they skip locally and fail in CI, where .ci/run installs it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from sidequest.config import get_config
from sidequest.web import create_app
from tests.support.redis_server import free_port
from tests.support.worker import wait_for

HERE = Path(__file__).resolve().parent
JOBS = HERE / "web_jobs.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt"), "PYTHONUNBUFFERED": "1"}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    return env


class Served:
    """`sidequest web` in a subprocess on a free port: the same command an operator runs."""

    def __init__(
        self, url: str, tmp_path: Path, *extra: str, path: str = "/", local: str | None = None
    ) -> None:
        self.port = free_port()
        self.path = path  # the URL path it prints (with --prefix or --root-path)
        self.local = path if local is None else local  # where it answers when asked directly
        self.log = tmp_path / f"web-{self.port}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sidequest", "web", "--url", url, "--port", str(self.port), *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_clean_env(tmp_path),
                cwd=tmp_path,
            )
        self.base = f"http://127.0.0.1:{self.port}"
        try:
            wait_for(self._answers, timeout=30, what=f"the dashboard on port {self.port}")
            # the command tells the operator where to look
            assert f"sidequest dashboard: {self.base}{path}\n" in self.output(), self.output()
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"sidequest web exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(self.base + self.local + "stats", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class WebWorker:
    """A real `sidequest worker` on tests/web/web_jobs.py with a fast heartbeat."""

    def __init__(
        self, url: str, tmp_path: Path, *extra: str, ttl: float = 10, heartbeat: float = 0.5
    ) -> None:
        config = tmp_path / f"sidequest-{time.monotonic_ns()}.toml"
        config.write_text(f"heartbeat_interval = {heartbeat}\nprocess_ttl = {ttl}\npoll_interval = 0.1\n")
        self.log = tmp_path / f"worker-{time.monotonic_ns()}.log"
        self.ledger_path = tmp_path / "ledger.txt"
        argv = [sys.executable, "-m", "sidequest", "worker", "-r", str(JOBS), "--url", url, "-C", str(config)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*argv, "-t", "5", *extra], stdout=log, stderr=subprocess.STDOUT, env=_clean_env(tmp_path)
            )

    def ledger(self) -> list[str]:
        return self.ledger_path.read_text().splitlines() if self.ledger_path.exists() else []

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each dashboard test runs on both real stores."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path / 'web.db'}"
    get_config().update(url=url)  # sidequest.enqueue / perform_async in the test go to the same store
    get_config().store  # noqa: B018 - opening it creates the SQLite file the dashboard will show
    return url


@pytest.fixture
def served(store_url: str, tmp_path: Path) -> Iterator[Served]:
    server = Served(store_url, tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(store_url: str, tmp_path: Path) -> Iterator[Any]:
    workers: list[WebWorker] = []

    def start(*extra: str) -> WebWorker:
        worker = WebWorker(store_url, tmp_path, *extra)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def csrf_of(text: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
    assert match, "the page has no CSRF field"
    return match.group(1)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    """The dashboard on the test's store, in-process (Starlette's TestClient keeps its cookies)."""
    with TestClient(create_app(store_url)) as test_client:
        yield test_client


def require_chromium() -> str:
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; .ci/run must install it (apt-get install chromium)")
        pytest.skip(f"{problem} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed; the test extra brings it (pip install -e '.[test]')")
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright; one per test module.

    Not one per session: Playwright's sync API keeps an event loop running in the main thread while
    it is open, and Django's ORM then refuses to run in tests that come later (SynchronousOnlyOperation).
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies) that accepts confirm() prompts, as an operator clicking OK."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def snap(page: Any, name: str) -> None:
    """Save a screenshot into $SIDEQUEST_SCREENSHOTS (scripts/screenshots sets it to docs/screenshots)."""
    directory = os.environ.get("SIDEQUEST_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)
