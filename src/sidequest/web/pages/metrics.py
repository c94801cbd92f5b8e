"""Metrics (Sidekiq 7's page): per job class runs, failures and run time, and a run-time chart."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sidequest import api
from sidequest.web import charts
from sidequest.web.app import dashboard_of

#: Periods offered, as Sidekiq 7 (?period=1h|2h|4h|8h); the store keeps 8 hours of minutes.
PERIODS = {"1h": 60, "2h": 120, "4h": 240, "8h": 480}


def metrics(request: Request) -> Response:
    board = dashboard_of(request)
    period = request.query_params.get("period", "1h")
    period = period if period in PERIODS else "1h"
    substr = request.query_params.get("substr", "").strip()
    minutes = min(PERIODS[period], api.metrics.MAX_MINUTES)
    top = api.Metrics(board.store).top_jobs(minutes, class_filter=substr)
    chosen_name = request.query_params.get("class", "") or (top[0].job_class if top else "")
    chosen = next((m for m in top if m.job_class == chosen_name), top[0] if top else None)
    chart = distribution = None
    if chosen is not None:
        # Minutes bucketed so the chart keeps about 60 bars whatever the period.
        bucket = max(1, len(chosen.minutes) // 60)
        labels, seconds = [], []
        for start in range(0, len(chosen.minutes), bucket):
            group = chosen.minutes[start : start + bucket]
            labels.append(group[0].minute.strftime("%H:%M"))
            seconds.append(sum(m.total_ms for m in group) / 1000)
        chart = charts.bar_chart(
            labels, seconds, title=f"run time of {chosen.job_class} per {bucket} min, seconds", unit=" s"
        )
        histogram = api.Metrics(board.store).for_job(chosen.job_class, minutes).histogram
        if any(histogram):
            bounds = [f"≤{_ms(bound)}" for bound in api.metrics.BUCKET_BOUNDS_MS]
            bounds.append(f">{_ms(api.metrics.BUCKET_BOUNDS_MS[-1])}")
            distribution = charts.bar_chart(
                bounds[: len(histogram)],
                [float(n) for n in histogram],
                title=f"successful runs of {chosen.job_class} by run time",
                unit=" runs",
            )
    return board.render(
        request,
        "metrics.html",
        tab="metrics",
        top=top,
        chosen=chosen,
        chart=chart,
        distribution=distribution,
        period=period,
        periods=list(PERIODS),
        substr=substr,
    )


def _ms(bound: float) -> str:
    return f"{bound / 1000:g} s" if bound >= 1000 else f"{bound:g} ms"


def routes() -> list[Route]:
    return [Route("/metrics", metrics, methods=["GET"], name="metrics")]
