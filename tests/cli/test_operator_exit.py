"""Operator commands run as a user runs them: an unreachable store exits 3, what to fix exits 2."""

from __future__ import annotations

from tests.cli.conftest import Run
from tests.support.redis_server import free_port


def test_an_unreachable_store_exits_3_and_a_store_that_cannot_be_there_2(sidequest: Run) -> None:
    # given nothing listening on a port, a host name that does not resolve and a missing store file
    down = f"redis://127.0.0.1:{free_port()}/0"
    cases = [
        (("stats", "--url", down), 3, f"Redis at {down} is unavailable"),
        (("retries", "list", "--url", down), 3, f"Redis at {down} is unavailable"),
        (("queues", "--url", "redis://nohost.invalid:6379/0"), 2, "nohost.invalid"),
        (("dead", "--url", "sqlite:///sidequest.db"), 2, "no store at"),
    ]
    for args, status, fragment in cases:
        # when an operator command runs on it
        result = sidequest(*args, timeout=60)
        # then it ends with one line saying why, no traceback, and the status for it
        assert result.returncode == status, (args, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: ") and fragment in line, (args, line)
        assert result.stdout == ""
