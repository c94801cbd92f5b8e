"""A type checker sees each job's signature through perform_async and friends (mypy, as a user runs it).

The user file below marks each line mypy must flag with ``# error``; every other line must pass. The
README's tour is type-checked as written.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

USER_FILE = """
from datetime import UTC, datetime, timedelta
from typing import Any

from sidequest import Job, job


@job(queue="mailers")
def send_email(to: str, subject: str, retries: int = 0) -> None: ...


@job
async def fetch(url: str) -> str:
    return url


class Provision(Job):
    queue = "infra"

    def perform(self, zone: str, records: list[dict[str, Any]]) -> None: ...


async def handler() -> None:
    await send_email.aperform_async("a@example.com", "hi")
    await send_email.aperform_async(1, "hi")  # error
    await send_email.set(queue="critical").aperform_in(5, "a@example.com")  # error
    await Provision.aperform_async("example.com", [])
    await Provision.aperform_at(datetime.now(UTC), 42, [])  # error
    await fetch.aperform_async("u")
    await fetch.aperform_bulk([("u",), ("v",)])
    await fetch.aperform_bulk([(1,)])  # error
    await Provision.aperform_bulk([("example.com", [])])


send_email.perform_async("a@example.com", "hi")
send_email.perform_async("a@example.com", "hi", 3)
send_email.perform_async(1, "hi")  # error
send_email.perform_async("a@example.com")  # error
send_email.perform_async("a", "b", 3, 4)  # error
send_email.perform_in(timedelta(minutes=5), "a@example.com", "hi")
send_email.perform_in(300, "a@example.com", 2)  # error
send_email.perform_at(datetime.now(UTC), "a@example.com", "hi")
send_email.perform_at(datetime.now(UTC), "a@example.com")  # error
send_email.set(queue="critical").perform_async("a@example.com", "hi")
send_email.set(queue="critical").perform_async(1)  # error
send_email.perform_bulk([("a@example.com", "hi")], at=datetime.now(UTC))
send_email.perform_bulk([("a@example.com", "hi", 2), ("b@example.com", "yo", 0)])
send_email.perform_bulk([(1, "hi")])  # error
send_email.perform_bulk([("a@example.com",)])  # error
send_email.perform_bulk([["a@example.com", "hi"]], batch_size=100)
send_email.set(queue="critical").perform_bulk([(1, 2)])  # error
Provision.perform_async("example.com", [{"type": "A"}])
Provision.perform_async(42)  # error
Provision.set(retry=3).perform_async("example.com", [])
Provision.set(retry=3).perform_async("example.com")  # error
Provision.perform_in(60, "example.com", "not a list")  # error
Provision.perform_bulk([("example.com", [])], at=datetime.now(UTC))
Provision.perform_bulk([(42, [])])  # error
jid: str | None = send_email.perform_async("a@example.com", "hi")
"""


def run_mypy(path: Path) -> list[str]:
    """mypy --strict on one file, as a user would run it; returns its error lines."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(path.parent / "mypy-cache"),  # a cache of its own: no result read from another run
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return [line for line in result.stdout.splitlines() if ": error:" in line]


def test_mypy_flags_wrong_argument_types_and_counts_on_every_enqueue_form(tmp_path: Path) -> None:
    # given a user's module with jobs, and calls some of which do not fit the job's signature
    user = tmp_path / "user_jobs.py"
    user.write_text(USER_FILE)
    expected = {number for number, line in enumerate(USER_FILE.splitlines(), 1) if line.endswith("# error")}
    # when mypy checks it
    errors = run_mypy(user)
    # then exactly the marked lines are flagged
    flagged = {int(match.group(1)) for line in errors if (match := re.search(r"user_jobs\.py:(\d+):", line))}
    assert flagged == expected, "\n".join(errors)


def test_the_readme_tour_passes_mypy(tmp_path: Path) -> None:
    # given the README's job definitions and enqueue calls, as written
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    tour = [block for block in blocks if "class ProvisionDns" in block or "send_email.perform_async" in block]
    assert len(tour) == 2
    user = tmp_path / "readme_tour.py"
    user.write_text("\n".join(textwrap.dedent(block) for block in tour))
    # when mypy checks it, then it passes
    assert run_mypy(user) == []
