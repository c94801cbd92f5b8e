"""SIGKILL under load: survivors and restarted workers finish every job; only in-flight jobs repeat."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.harness import crash_scenario

pytestmark = pytest.mark.slow


def test_sigkill_at_random_points_under_steady_load_loses_nothing(
    url: str, tmp_path: Path, report: Callable[[str], None]
) -> None:
    # given two workers taking a steady stream of 3,000 short jobs
    # when one of them is SIGKILLed at a random moment three times (and replaced each time)
    run = crash_scenario(url, tmp_path, jobs=3000, kills=3, per_second=500, seed=4)
    # then every job finished, and only jobs held by a killed process ran twice
    run.verdict.assert_exact()
    assert run.exit_codes == [0, 0]
    report(
        f"{run.verdict.enqueued} jobs, {run.kills} kills, {run.verdict.in_flight_at_faults} in flight at kills, "
        f"{run.verdict.extra_runs} ran twice, 0 lost, {run.seconds:.1f}s"
    )
