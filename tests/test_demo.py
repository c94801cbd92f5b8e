"""The README's first command: `sidequest demo` runs a worker on SQLite with a mix of sample jobs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_sample_jobs_on_sqlite_and_stops_by_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "sidequest", "demo", "--seconds", "4", "--url", url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    final = re.search(r"final: processed=(\d+) failed=(\d+) .* scheduled=(\d+) retries=(\d+)", result.stdout)
    assert final, result.stdout
    processed, failed, scheduled, retries = map(int, final.groups())
    assert processed >= 80 and failed >= 4 and scheduled == 3 and retries >= 1
    assert "sidequest stats --url" in result.stdout
