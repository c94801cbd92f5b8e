"""The Dashboard (counters, live and history graphs, store info), /stats for probes, and Busy."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from sidequest import api
from sidequest.errors import ProcessNotFound
from sidequest.web import charts
from sidequest.web.app import back, dashboard_of, field, form_of
from sidequest.web.format import epoch, size
from sidequest.web.paging import page_of

#: History ranges offered, as in Sidekiq (?days=7|30|90|180, default 30).
DAY_CHOICES = (7, 30, 90, 180)
#: Jobs held by stopped processes listed on the Busy page (the count is always shown).
HELD_SHOWN = 25
#: Live graph poll intervals offered, in seconds.
INTERVALS = (1, 2, 5, 10, 20)


def dashboard(request: Request) -> Response:
    board = dashboard_of(request)
    stats = api.Stats(board.store)
    if request.method == "HEAD":
        # Sidekiq's cheap health check: HEAD / answers with the default queue's size.
        return PlainTextResponse(str(api.Queue("default", board.store).size()))
    days = _int(request.query_params.get("days"), 30)
    days = days if days in DAY_CHOICES else 30
    history = list(reversed(stats.history(days)))  # oldest first, left to right
    labels = [day.date[5:] for day in history]
    svg = charts.line_chart(
        labels,
        [
            charts.Series("processed", [day.processed for day in history], "processed"),
            charts.Series("failed", [day.failed for day in history], "failed"),
        ],
        title=f"processed and failed per day, last {days} days",
    )
    queues = [queue.summary() for queue in api.Queue.all(board.store)]
    queues.sort(key=lambda q: -q.size)
    return board.render(
        request,
        "dashboard.html",
        tab="dashboard",
        days=days,
        day_choices=DAY_CHOICES,
        history_svg=svg,
        history_processed=sum(day.processed for day in history),
        history_failed=sum(day.failed for day in history),
        intervals=sorted({*INTERVALS, board.poll_interval}),
        poll_interval=board.poll_interval,
        store_info=_store_rows(stats.store_info()),
        queues=queues,
    )


def stats_json(request: Request) -> Response:
    """The live graph's feed and a monitoring probe; the "sidekiq" object has Sidekiq's /stats fields."""
    board = dashboard_of(request)
    stats = api.Stats(board.store)
    record = board.stats(request)
    return JSONResponse(
        {
            "sidekiq": {
                "processed": record.processed,
                "failed": record.failed,
                "busy": record.busy,
                "processes": record.processes,
                "enqueued": record.enqueued,
                "scheduled": record.scheduled,
                "retries": record.retries,
                "dead": record.dead,
                "default_latency": record.default_latency,
            },
            "sidequest": {
                "held_by_dead": record.held_by_dead,
                "quiet": record.quiet,
                "paused_queues": record.paused_queues,
            },
            "store": stats.store_info() if request.query_params.get("store") != "0" else {},
            "server_utc_time": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        }
    )


def stats_queues(request: Request) -> Response:
    board = dashboard_of(request)
    return JSONResponse({queue.name: queue.size() for queue in api.Queue.all(board.store)})


def busy(request: Request) -> Response:
    board = dashboard_of(request)
    processes = api.ProcessSet(board.store)
    if request.method == "POST":
        form = form_of(request)
        identity = field(form, "identity")
        action = "stop" if "stop" in form else "quiet"
        try:
            if identity:
                target = processes.stop(identity) if action == "stop" else processes.quiet(identity)
                done = f"Asked {target.name} to {action}; it acts at its next heartbeat."
            else:
                targets = processes.stop_all() if action == "stop" else processes.quiet_all()
                done = f"Asked {len(targets)} processes to {action}."
        except ProcessNotFound:
            done = f"Process {identity} is no longer alive."
        return back(request, "busy", done)
    listed = processes.list()
    work = api.WorkSet(board.store).list()
    page = page_of(request, len(work), 100)
    threads = sum(p.concurrency for p in listed)
    busy_count = sum(p.busy for p in listed)
    totals = {
        "processes": len(listed),
        "threads": threads,
        "busy": busy_count,
        "utilization": round(100 * busy_count / threads) if threads else 0,
        "rss_kb": sum(p.rss_kb for p in listed),
    }
    now = time.time()

    def runtime(started: Any) -> float | None:
        at = epoch(started)
        return None if at is None else max(0.0, now - at)

    held_count = board.stats(request).held_by_dead
    held = api.HeldByDead(board.store).list(HELD_SHOWN) if held_count else []
    return board.render(
        request,
        "busy.html",
        tab="busy",
        held=held,
        held_count=held_count,
        processes=listed,
        work=work[page.start : page.stop + 1],
        page=page,
        totals=totals,
        runtime=runtime,
    )


def _store_rows(info: dict[str, str]) -> dict[str, Any]:
    kind = info.get("store", "")
    if kind == "redis":
        rows = [
            ("URL", info.get("url", "")),
            ("Redis version", info.get("redis_version", "")),
            ("Uptime", f"{info.get('uptime_in_days', '')} days"),
            ("Connections", info.get("connected_clients", "")),
            ("Memory usage", info.get("used_memory_human", "")),
            ("Peak memory usage", info.get("used_memory_peak_human", "")),
        ]
        return {"kind": "Redis", "rows": rows}
    if kind == "sqlite":
        rows = [
            ("File", info.get("path", "")),
            ("Size", size(_int(info.get("size_bytes"), 0))),
            ("Page count", f"{_int(info.get('page_count'), 0):,} pages of {info.get('page_size', '')} bytes"),
            ("Free pages", f"{_int(info.get('free_pages'), 0):,}"),
            ("SQLite version", info.get("sqlite_version", "")),
        ]
        return {"kind": "SQLite", "rows": rows}
    return {"kind": kind.capitalize() or "Store", "rows": [(k, v) for k, v in info.items() if k != "store"]}


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def routes() -> list[Route]:
    return [
        Route("/", dashboard, methods=["GET", "HEAD"], name="dashboard"),
        Route("/stats", stats_json, methods=["GET"], name="stats"),
        Route("/stats/queues", stats_queues, methods=["GET"], name="stats_queues"),
        # Sidekiq's old address of the live feed, still read by some probes
        Route(
            "/dashboard/stats",
            lambda request: RedirectResponse(request.url_for("stats").path),
            name="old_stats",
        ),
        Route("/busy", busy, methods=["GET", "POST"], name="busy"),
    ]
