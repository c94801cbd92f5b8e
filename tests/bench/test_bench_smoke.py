"""A short run of bench/run.py so the benchmark cannot rot: sidequest only, no peers, no network.

It checks that the table prints and that every figure is a positive number, never how fast anything is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import redis_server_binary

pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def numbers(cell: str) -> list[float]:
    return [float(text.replace(",", "")) for text in re.findall(r"[0-9][0-9,]*(?:\.[0-9]+)?", cell)]


def test_the_bench_prints_a_table_of_positive_numbers_and_writes_the_report(tmp_path: Path) -> None:
    redis_server_binary()  # skips (locally) or fails (CI) without redis-server
    report = tmp_path / "benchmarks.md"

    # when the bench runs sidequest alone on 500 jobs, once, with the round-trip proxy
    result = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--systems",
            "sidequest",
            "--jobs",
            "500",
            "--runs",
            "1",
            "--latency-samples",
            "20",
            "--extras",
            "rtt",
            "--rtt-systems",
            "sidequest",
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # then it prints the table, with a row for sidequest whose figures are all positive numbers
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| system | jobs | drain, jobs/s"), result.stdout
    rows = [line for line in lines if line.startswith("| sidequest")]
    assert len(rows) == 2, result.stdout  # the plain run and the one behind the proxy
    plain = [cell.strip() for cell in rows[0].strip("|").split("|")]
    figures = [numbers(cell) for cell in plain[1:]]
    assert all(values and all(value > 0 for value in values) for values in figures), rows[0]
    behind_proxy = [cell.strip() for cell in rows[1].strip("|").split("|")]
    assert all(numbers(cell)[0] > 0 for cell in behind_proxy[1:5]), rows[1]

    # and the report holds the same table, the command and the machine
    text = report.read_text()
    assert rows[0] in text
    assert "python bench/run.py" in text and "## Machine" in text
