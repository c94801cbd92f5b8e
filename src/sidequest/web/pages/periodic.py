"""Periodic: every schedule with its next and last run and its last job's outcome; enqueue now, pause, resume."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sidequest import api
from sidequest.web.app import back, dashboard_of, form_of


async def periodic(request: Request) -> Response:
    board = dashboard_of(request)
    schedules = api.Periodic(board.store).schedules()
    return board.render(request, "periodic.html", tab="periodic", schedules=schedules)


async def schedule(request: Request) -> Response:
    """The buttons of one row: run (enqueue now), pause, resume."""
    board = dashboard_of(request)
    name = request.path_params["name"]
    form = form_of(request)
    target = api.Periodic(board.store)
    try:
        if "run" in form:
            done = f"Enqueued {name} now (jid {target.enqueue_now(name)}); its next tick still runs on time."
        elif "pause" in form:
            target.pause(name)
            done = f"Paused {name}: its ticks are not enqueued until it is resumed."
        elif "resume" in form:
            target.resume(name)
            done = f"Resumed {name} from its next tick."
        else:
            done = ""
    except api.UnknownScheduleError:
        done = f"No periodic schedule {name} in the store any more."
    return back(request, "periodic", done)


def routes() -> list[Route]:
    return [
        Route("/periodic", periodic, methods=["GET"], name="periodic"),
        Route("/periodic/{name}", schedule, methods=["POST"], name="periodic_schedule"),
    ]
