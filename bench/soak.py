"""Soak: the reliability suite's fault scenarios at full size, as a table. Not part of pass/fail.

    python bench/soak.py                       # everything: SIGKILL on Redis and SQLite, Redis outages
    python bench/soak.py --jobs 10000 --kills 5 --rounds 2 --only sigkill

Each row is one run checked against an exact ledger (tests/reliability/harness.py): every enqueued
job must have finished; a job may have run more than once only if it was in a killed process's
in-progress list at the kill (or, for the outage, if its push raised and was retried). "in flight"
counts the jobs held by processes at the faults, "ran twice" the extra runs seen, "lost" the jobs
that never finished. Needs redis-server on PATH; every server is private (free port, temp dir).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.harness import crash_scenario, outage_scenario  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

HEADER = ("scenario", "store", "jobs", "faults", "in flight", "ran twice", "lost", "unexpected", "seconds")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per run (default 10,000)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs per SIGKILL run (default 5)")
    parser.add_argument("--rate", type=float, default=500, help="jobs enqueued per second (default 500)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each scenario (default 1)")
    parser.add_argument("--only", choices=["sigkill", "outage"], help="run one scenario kind")
    options = parser.parse_args()

    rows: list[tuple[object, ...]] = []
    failures = 0
    print(" | ".join(HEADER), flush=True)
    with tempfile.TemporaryDirectory(prefix="sidequest-soak-") as scratch:
        root = Path(scratch)
        for round_number in range(options.rounds):
            if options.only in (None, "sigkill"):
                for store in ("redis", "sqlite"):
                    workdir = root / f"sigkill-{store}-{round_number}"
                    server = RedisServer(workdir / "redis").start() if store == "redis" else None
                    url = server.url if server else f"sqlite:///{workdir / 'soak.db'}"
                    try:
                        run = crash_scenario(
                            url,
                            workdir,
                            jobs=options.jobs,
                            kills=options.kills,
                            per_second=options.rate,
                            seed=round_number,
                            finish_timeout=300,
                        )
                    finally:
                        if server:
                            server.stop()
                    v = run.verdict
                    row = (
                        "sigkill",
                        store,
                        v.enqueued,
                        run.kills,
                        v.in_flight_at_faults,
                        v.extra_runs,
                        len(v.missing),
                        len(v.unexpected_duplicates),
                        f"{run.seconds:.1f}",
                    )
                    failures += bool(v.missing or v.unexpected_duplicates or v.unknown)
                    rows.append(row)
                    print(" | ".join(str(cell) for cell in row), flush=True)
            if options.only in (None, "outage"):
                workdir = root / f"outage-{round_number}"
                server = RedisServer(workdir / "redis", persistent=True).start()
                try:
                    outage = outage_scenario(
                        server, workdir, jobs=options.jobs, per_second=options.rate, finish_timeout=300
                    )
                finally:
                    server.stop()
                v = outage.verdict
                row = (
                    "restart+pause",
                    "redis",
                    v.enqueued,
                    2,
                    f"{outage.failed_pushes} pushes",
                    v.extra_runs,
                    len(v.missing),
                    len(v.unexpected_duplicates),
                    f"{outage.seconds:.1f}",
                )
                failures += bool(v.missing or v.unexpected_duplicates or v.unknown)
                rows.append(row)
                print(" | ".join(str(cell) for cell in row), flush=True)

    print()
    print_table(rows)
    print(f"\n{len(rows)} run(s), {failures} with lost or unexpectedly repeated jobs")
    return 1 if failures else 0


def print_table(rows: list[tuple[object, ...]]) -> None:
    cells = [HEADER, *[tuple(str(cell) for cell in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    for index, row in enumerate(cells):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")


if __name__ == "__main__":
    sys.exit(main())
