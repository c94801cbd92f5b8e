"""``sidequest demo``: a worker on the embedded SQLite store with a realistic mix of sample jobs.

Nothing to install or start: it enqueues jobs that succeed, jobs that fail and retry, jobs that die,
scheduled jobs and async jobs, runs a worker on them, keeps a trickle of new jobs coming, serves the
dashboard (when the web extra is installed) and prints what is where every few seconds.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
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


def enqueue_trickle(tick: int) -> None:
    """A few more jobs every tick, so the dashboard's live graph keeps moving while the demo runs."""
    send_welcome_email.perform_async(5000 + tick, f"user{5000 + tick}@example.com")
    resize_image.perform_async(f"uploads/live-{tick}.png", [64, 256])
    charge_card.perform_async(100 + tick, 2599)
    if tick % 10 == 0:
        call_webhook.perform_async(f"https://partner.example.com/hook/{tick}")


def serve_dashboard(store: Any, port: int) -> tuple[str, Callable[[], None]] | None:
    """The dashboard on 127.0.0.1:port in a thread; its URL and a stop function, or None without the web extra."""
    try:
        import uvicorn

        from sidequest.web import create_app
    except ImportError:
        return None
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, poll_interval=2.0), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, name="sidequest-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        return None

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return f"http://127.0.0.1:{port}/", stop


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


def run_demo(url: str, seconds: float = 0, web_port: int = 7433) -> int:
    """Run the demo until Ctrl-C (or for seconds), with the dashboard on web_port (0: none); the exit code."""
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
    dashboard = serve_dashboard(store, web_port) if web_port else None
    if dashboard is not None:
        print(f"dashboard: {dashboard[0]}  (open it in a browser while the demo runs)")
    elif web_port:
        print(f"no dashboard: port {web_port} is busy or the web extra is missing (pip install '.[web]')")
    print("Ctrl-C stops the worker gracefully.\n")
    launcher = Launcher(config)
    signals.install(launcher)
    stop_reporting = threading.Event()

    def report() -> None:
        started = time.monotonic()
        tick = 0
        while not stop_reporting.wait(2.0):
            tick += 1
            enqueue_trickle(tick)
            print(summary(store), flush=True)
            if seconds and time.monotonic() - started >= seconds:
                launcher.request_stop()

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        return launcher.run()
    finally:
        stop_reporting.set()
        reporter.join(5)
        if dashboard is not None:
            dashboard[1]()
        print("\nfinal: " + summary(store))
