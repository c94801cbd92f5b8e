"""A short run of bench/dashboard.py so the benchmark cannot rot: small sizes, both stores.

It checks that every page answered and the table printed, never how fast anything is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import redis_server_binary

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "dashboard.py"


def test_the_dashboard_bench_prints_a_row_per_page_for_both_stores() -> None:
    redis_server_binary()  # skips (locally) or fails (CI) without redis-server
    # when the bench runs with 300 jobs and entries, two requests per page
    result = subprocess.run(
        [sys.executable, str(BENCH), "--size", "300", "--requests", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then it prints a table with the p50, p95 and CPU time of each page on each store
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) >= 15 and any("/retries/{key}" in row for row in rows), result.stdout
    for row in rows:
        figures = re.findall(r"\| ([0-9]+\.[0-9]) ", row + " ")
        assert len(figures) == 6 and all(float(f) > 0 for f in figures), row
