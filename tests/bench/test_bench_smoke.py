"""A short run of bench/run.py so the benchmark cannot rot: sidequest only, no peers, no network.

It checks that the tables print and that every figure is a positive number, never how fast anything is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.redis_server import redis_server_binary

pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def numbers(cell: str) -> list[float]:
    return [float(text.replace(",", "")) for text in re.findall(r"[0-9][0-9,]*(?:\.[0-9]+)?", cell)]


@dataclass
class BenchRun:
    stdout: list[str]
    report: str


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    """One short run of the bench with every extra but the scheduled one (a second of waiting)."""
    redis_server_binary()  # skips (locally) or fails (CI) without redis-server
    report = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    # sidequest alone on 500 jobs, once: the round-trip proxy, a sweep of 1 and 2 processes, and the
    # latency probe beside one busy loop (tiny sizes: this checks the output, not the speed)
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
            "rtt,processes,load",
            "--rtt-systems",
            "sidequest",
            "--processes",
            "1,2",
            "--load",
            "1",
            "--load-samples",
            "20",
            "--settle",
            "0.5",
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return BenchRun(result.stdout.splitlines(), report.read_text())


def test_the_bench_prints_a_table_of_positive_numbers_and_writes_the_report(bench_run: BenchRun) -> None:
    result = bench_run
    lines = result.stdout

    # then it prints the table, with a row for sidequest whose figures are all positive numbers
    assert lines[0].startswith("| system | jobs | drain, jobs/s"), lines
    rows = [line for line in lines if line.startswith("| sidequest (-c 10")]
    assert len(rows) == 2, lines  # the plain run and the one behind the proxy
    plain = cells(rows[0])
    figures = [numbers(cell) for cell in plain[1:]]
    assert all(values and all(value > 0 for value in values) for values in figures), rows[0]
    behind_proxy = cells(rows[1])
    assert all(numbers(cell)[0] > 0 for cell in behind_proxy[1:5]), rows[1]

    # and the Redis columns hold the commands (all / scripts) and the server's CPU (enqueue / drain) per job
    header = cells(lines[0])
    assert header[-2:] == [
        "Redis commands per job, drain: all / scripts",
        "Redis CPU per job, us: enqueue / drain",
    ]
    assert len(numbers(plain[-2])) == 2 and len(numbers(plain[-1])) == 2, rows[0]

    # and the report holds the same table, the command and the machine
    assert rows[0] in result.report
    assert "python bench/run.py" in result.report and "## Machine" in result.report


def test_the_processes_sweep_and_latency_under_load_print_their_tables(bench_run: BenchRun) -> None:
    lines = bench_run.stdout

    # the sweep has has a row per process count, each with jobs/s, the speed-up and the Redis CPU
    start = lines.index(next(line for line in lines if line.startswith("| --processes |")))
    assert cells(lines[start])[3] == "Redis CPU per job, us"
    sweep = [cells(line) for line in lines[start + 2 : start + 4]]
    assert [row[0] for row in sweep] == ["1", "2"], lines
    assert all(numbers(cell)[0] > 0 for row in sweep for cell in row[1:]), lines

    # the load table has sidequest, polling and not, quiet and beside the busy loop, with
    # p50 / p99 / p99.9 and the CPU of the pusher and of the worker
    start = lines.index(next(line for line in lines if line.startswith("| system | busy loops |")))
    probes = [cells(line) for line in lines[start + 2 : start + 8]]
    assert [(row[0].split(" (")[0], row[1]) for row in probes] == [
        ("sidequest", "0"),
        ("sidequest, never polling", "0"),
        ("sidequest, polling whatever the load", "0"),
        ("sidequest", "1"),
        ("sidequest, never polling", "1"),
        ("sidequest, polling whatever the load", "1"),
    ], lines
    for row in probes:
        assert len(numbers(row[3])) == 3 and all(value > 0 for value in numbers(row[3])), row
        assert numbers(row[4])[0] > 0 and numbers(row[5])[0] >= 0, row

    # and the report has both sections
    assert "## Processes" in bench_run.report and "## Latency under load" in bench_run.report
