"""`sidequest web`: the flags an operator serves the dashboard with, through the real command."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import sidequest
from sidequest import api
from tests.web.conftest import Served


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers or {}), timeout=10
        ) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def mailers(store_url: str) -> str:
    sidequest.enqueue("Hard", [1], queue="mailers")
    return store_url


def test_read_only_flag_serves_pages_without_buttons_and_refuses_posts(mailers: str, tmp_path: Path) -> None:
    # given `sidequest web --read-only`
    served = Served(mailers, tmp_path, "--read-only")
    try:
        # when the operator opens a queue and something posts a pause to it
        status, page = request(served.base + "/queues/mailers")
        refused, _ = request(served.base + "/queues/mailers", data=b"pause=1")
    finally:
        served.stop()
    # then the page shows the queue and no button, and the post is refused
    assert status == 200 and "mailers" in page and 'method="post"' not in page
    assert refused == 403 and not api.Queue("mailers").paused()


def test_prefix_flag_serves_under_the_prefix_and_prints_that_url(mailers: str, tmp_path: Path) -> None:
    # given `sidequest web --prefix /ops/jobs` (a proxy that passes the path on unchanged)
    served = Served(mailers, tmp_path, "--prefix", "/ops/jobs", path="/ops/jobs/")
    try:
        # when the operator opens the printed URL's queues page, and a path outside it
        status, page = request(served.base + "/ops/jobs/queues")
        outside, _ = request(served.base + "/queues")
    finally:
        served.stop()
    # then the page answers with links under the prefix, and outside it nothing does
    assert status == 200 and outside == 404
    assert all(t.startswith("/ops/jobs/") for t in re.findall(r'(?:href|src|action)="(/[^"]*)"', page))


def test_root_path_flag_links_through_a_proxy_that_strips_its_prefix(mailers: str, tmp_path: Path) -> None:
    # given `sidequest web --root-path /jobs` behind a proxy that strips /jobs
    served = Served(mailers, tmp_path, "--root-path", "/jobs", path="/jobs/", local="/")
    try:
        # when the proxy passes /queues on, as it received /jobs/queues
        status, page = request(served.base + "/queues")
    finally:
        served.stop()
    # then the page's links and assets go through the proxy's prefix
    assert status == 200 and "mailers" in page
    assert all(t.startswith("/jobs/") for t in re.findall(r'(?:href|src|action)="(/[^"]*)"', page))
