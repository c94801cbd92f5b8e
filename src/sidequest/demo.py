"""``sidequest demo``: a worker on the embedded SQLite store with a realistic mix of sample jobs.

Nothing to install or start: it enqueues jobs that succeed, jobs that fail and retry, jobs that die,
scheduled jobs and async jobs, runs a worker on them, and prints what is where every few seconds.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

from sidequest.config import get_config
from sidequest.job import job
from sidequest.stores import redact


@job(name="demo.send_welcome_email", queue="mailers")
def send_welcome_email(user_id: int, address: str) -> None:
    time.sleep(random.uniform(0.01, 0.05))


@job(name="demo.resize_image", queue="default")
def resize_image(path: str, sizes: list[int]) -> None:
    time.sleep(0.02 * len(sizes))


@job(name="demo.charge_card", queue="critical", retry=3, retry_in=lambda count, exc: 3)
def charge_card(order_id: int, cents: int) -> None:
    if order_id % 5 == 0:
        raise RuntimeError(f"card declined for order {order_id}")


@job(name="demo.call_webhook", queue="default", retry=1, retry_in=lambda count, exc: 2, backtrace=5)
def call_webhook(url: str) -> None:
    raise ConnectionError(f"{url} did not answer")


@job(name="demo.sync_inventory", queue="default")
async def sync_inventory(warehouse: str) -> None:
    await asyncio.sleep(0.05)


def enqueue_sample_jobs() -> dict[str, int]:
    """Enqueue the mix; returns how many of each kind."""
    send_welcome_email.perform_bulk([(n, f"user{n}@example.com") for n in range(40)])
    resize_image.perform_bulk([(f"uploads/{n}.png", [64, 256, 1024]) for n in range(20)])
    for order in range(1, 21):
        charge_card.perform_async(order, 1999)
    call_webhook.perform_async("https://partner.example.com/hook")
    for warehouse in ("north", "south", "east"):
        sync_inventory.perform_async(warehouse)
    for minutes in (1, 5, 60):
        send_welcome_email.perform_in(minutes * 60, 1000 + minutes, "later@example.com")
    return {"succeed": 83, "retry then succeed or die": 4, "die after retries": 1, "scheduled": 3}


def _report_failure(exc: BaseException, context: dict[str, Any]) -> None:
    job = context.get("job") or {}
    print(f"  failed: {job.get('class', '?')} {job.get('args', '')}: {type(exc).__name__}: {exc}", flush=True)


def summary(store: Any) -> str:
    """One line of the operator API's counters (sidequest.api.Stats)."""
    from sidequest.api import Stats

    stats = Stats(store).read()
    return (
        f"processed={stats.processed} failed={stats.failed} enqueued={stats.enqueued} "
        f"scheduled={stats.scheduled} retries={stats.retries} dead={stats.dead} processes={stats.processes}"
    )


def run_demo(url: str, seconds: float = 0) -> int:
    """Run the demo until Ctrl-C (or for seconds); returns the exit code."""
    from sidequest import logging as sq_logging
    from sidequest.runtime import signals
    from sidequest.runtime.launcher import Launcher

    config = get_config()
    config.update(
        url=url,
        queues=[("critical", 3), ("mailers", 2), ("default", 1)],
        concurrency=5,
        log_level="WARNING",
        heartbeat_interval=2.0,
        process_ttl=30.0,
    )
    config.error_handlers.append(_report_failure)
    sq_logging.setup("text", "WARNING")
    store = config.store
    kinds = enqueue_sample_jobs()
    print(f"sidequest demo: store {redact(url)}")
    print("enqueued: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    print(f"inspect it any time with: sidequest stats --url {redact(url)}")
    print("Ctrl-C stops the worker gracefully.\n")
    launcher = Launcher(config)
    signals.install(launcher)
    stop_reporting = threading.Event()

    def report() -> None:
        started = time.monotonic()
        while not stop_reporting.wait(2.0):
            print(summary(store), flush=True)
            if seconds and time.monotonic() - started >= seconds:
                launcher.request_stop()

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        return launcher.run()
    finally:
        stop_reporting.set()
        print("\nfinal: " + summary(store))
