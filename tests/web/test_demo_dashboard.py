"""Issue 15, must-hold 5: the README's demo serves the dashboard and prints its URL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.redis_server import free_port
from tests.support.worker import wait_for

pytestmark = pytest.mark.slow


def test_the_demo_serves_the_dashboard_with_jobs_moving_through_it(tmp_path: Path) -> None:
    # given the demo started as the README says, on a free port
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidequest",
            "demo",
            "--url",
            f"sqlite:///{tmp_path / 'demo.db'}",
            "--web-port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        # when it has started
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("dashboard:") or len(lines) > 20:
                break
        # then it prints the dashboard's URL
        url = f"http://127.0.0.1:{port}/"
        assert any(line.startswith(f"dashboard: {url}") for line in lines), "".join(lines)

        # and that dashboard shows the demo's jobs being processed
        def processed() -> int:
            with urllib.request.urlopen(url + "stats", timeout=5) as response:
                return int(json.load(response)["sidekiq"]["processed"])

        wait_for(lambda: processed() >= 80, timeout=60, what="the demo's jobs on the dashboard")
        with urllib.request.urlopen(url + "retries", timeout=5) as response:
            assert "demo.charge_card" in response.read().decode()
    finally:
        # when Ctrl-C is pressed, the demo stops cleanly
        demo.send_signal(signal.SIGINT)
        remaining = demo.communicate(timeout=60)[0]
    assert demo.returncode == 0, remaining
    assert "final: processed=" in remaining
