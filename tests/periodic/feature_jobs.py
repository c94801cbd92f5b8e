"""Jobs with unique and expiring options, for in-process tests and `sidequest worker` subprocesses.

Each run appends "<name> <arg>" to the file named by $SIDEQUEST_TEST_LEDGER (or to RAN in-process).
"""

from __future__ import annotations

import os

from sidequest import job
from sidequest.middleware import expiring, unique

unique.install()
expiring.install()

RAN: list[str] = []


def _record(line: str) -> None:
    path = os.environ.get("SIDEQUEST_TEST_LEDGER")
    if path:
        with open(path, "a") as ledger:
            ledger.write(line + "\n")
    else:
        RAN.append(line)


@job(name="tests.unique.sync_account", unique_for=60)
def sync_account(account_id: int) -> None:
    _record(f"sync_account {account_id}")


@job(name="tests.unique.flaky", unique_for=60, retry=1)
def flaky(account_id: int) -> None:
    _record(f"flaky {account_id}")
    raise RuntimeError("the remote end hung up")


@job(name="tests.unique.doomed", unique_for=60, retry=False)
def doomed(account_id: int) -> None:
    _record(f"doomed {account_id}")
    raise RuntimeError("no retries for this one")


@job(name="tests.unique.by_account", unique_for=60, unique_key=lambda account_id, _note: account_id)
def by_account(account_id: int, note: str) -> None:
    _record(f"by_account {account_id} {note}")


@job(name="tests.expiring.quote", expires_in=5)
def refresh_quote(symbol: str) -> None:
    _record(f"quote {symbol}")


@job(name="tests.unique.held", unique_for=60)
def held(account_id: int, gate: str) -> None:
    """Runs until the test creates the file gate (or 20 s pass), so the test can act while it runs."""
    import time
    from pathlib import Path

    _record(f"start held {account_id}")
    deadline = time.monotonic() + 20
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    _record(f"held {account_id}")
