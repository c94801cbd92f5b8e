"""Queues: every queue with size, latency and paused state; one queue's jobs, paged, with delete."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sidequest import api
from sidequest.web.app import back, dashboard_of, field, form_of
from sidequest.web.paging import page_of

#: Sidekiq's Web UI accepts only these queue names in paths (it renders them in links and forms).
QUEUE_NAME = re.compile(r"\A[a-z_:.\-0-9]+\Z", re.IGNORECASE)


def queues(request: Request) -> Response:
    board = dashboard_of(request)
    summaries = [queue.summary() for queue in api.Queue.all(board.store)]
    return board.render(request, "queues.html", tab="queues", queues=summaries)


def queue(request: Request) -> Response:
    board = dashboard_of(request)
    name = request.path_params["name"]
    if not QUEUE_NAME.match(name):
        return board.not_found(request, f"“{name}” is not a queue name (letters, digits and _ : . - only).")
    target = api.Queue(name, board.store)
    if request.method == "POST":
        form = form_of(request)
        if "pause" in form:
            target.pause()
            done = f"Queue {name} is paused: workers leave its jobs waiting until it is resumed."
        elif "resume" in form:
            target.resume()
            done = f"Queue {name} is resumed."
        elif "clear" in form:
            done = f"Deleted {target.clear():,} jobs of queue {name}."
            return back(request, "queues", done)
        else:
            done = ""
        if field(form, "from") == "queues":  # pressed on the list of queues: back to that list
            return back(request, "queues", done)
        return back(request, "queue", done, name=name)
    summary = target.summary()
    ascending = request.query_params.get("direction") == "asc"  # Sidekiq: newest first unless asc
    page = page_of(request, summary.size, board.page_size, {"direction": "asc"} if ascending else {})
    jobs = target.page(page.number, page.count, oldest_first=ascending, total=summary.size).items
    return board.render(
        request,
        "queue.html",
        tab="queues",
        title=f"Queue {name}",
        queue=summary,
        jobs=jobs,
        page=page,
        ascending=ascending,
    )


def queue_delete(request: Request) -> Response:
    """Delete one job: the form carries its exact stored JSON (Sidekiq's key_val), so no queue walk."""
    board = dashboard_of(request)
    name = request.path_params["name"]
    raw = field(form_of(request), "job")
    record = api.JobRecord.from_raw(raw, name)
    deleted = bool(raw) and api.Queue(name, board.store).delete(record)
    done = f"Deleted job {record.jid}." if deleted else "That job was no longer in the queue."
    return back(request, "queue", done, name=name)


def routes() -> list[Route]:
    return [
        Route("/queues", queues, methods=["GET"], name="queues"),
        Route("/queues/{name}", queue, methods=["GET", "POST"], name="queue"),
        Route("/queues/{name}/delete", queue_delete, methods=["POST"], name="queue_delete"),
    ]
