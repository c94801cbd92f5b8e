"""Batches (Sidekiq Pro's page): the list with progress bars, and one batch's callbacks, failed and
pending jobs. Read only: a batch changes through its jobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sidequest import api
from sidequest.web.app import dashboard_of


def batches(request: Request) -> Response:
    board = dashboard_of(request)
    bid = request.path_params.get("bid")
    if bid is None:
        rows = api.BatchSet(board.store).list(limit=board.page_size * 4)
        return board.render(request, "batches.html", tab="batches", rows=rows, batch=None)
    try:
        batch = api.BatchSet(board.store).get(bid, jids=board.page_size)
    except api.BatchNotFound:
        return board.not_found(request, f"batch {bid}")
    fired = {"complete": batch.complete_at, "success": batch.success_at, "death": batch.death_at}
    return board.render(
        request, "batches.html", tab="batches", title=f"Batch {bid}", rows=[], batch=batch, fired=fired
    )


def routes() -> list[Route]:
    return [
        Route("/batches", batches, methods=["GET"], name="batches"),
        Route("/batches/{bid}", batches, methods=["GET"], name="batch"),
    ]
