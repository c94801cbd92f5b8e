"""Retries, Scheduled and Dead (Sidekiq's /morgue): paged lists, search, bulk and per-entry actions.

An entry is addressed by Sidekiq's key "{score}-{jid}", so links from Sidekiq's own UI and ours
name the same job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sidequest import api
from sidequest.errors import JobNotFound
from sidequest.web.app import back, dashboard_of, form_of
from sidequest.web.paging import page_of

Action = tuple[str, str, str]  # form value, button label, css class


@dataclass(frozen=True)
class Kind:
    """One sorted set as the Web UI shows it."""

    route: str
    title: str
    singular: str
    set_class: type[api.JobSet]
    when_label: str
    empty: str
    actions: tuple[Action, ...]
    all_actions: tuple[Action, ...]
    #: Sidekiq's order: the next retry or run first; the most recent death first
    soonest_first: bool = True

    def size_of(self, stats: api.StatsRecord) -> int:
        """The set's size as the summary bar just read it (counting again is costly on SQLite)."""
        return {"retries": stats.retries, "scheduled": stats.scheduled, "morgue": stats.dead}[self.route]


RETRIES = Kind(
    "retries",
    "Retries",
    "Retry",
    api.RetrySet,
    "Next retry",
    "No retries: nothing has failed lately.",
    (
        ("retry", "Retry now", "primary"),
        ("add_to_queue", "Add to queue", ""),
        ("kill", "Kill", "danger"),
        ("delete", "Delete", "danger"),
    ),
    (("retry", "Retry all", ""), ("kill", "Kill all", "danger"), ("delete", "Delete all", "danger")),
)
SCHEDULED = Kind(
    "scheduled",
    "Scheduled",
    "Scheduled job",
    api.ScheduledSet,
    "When",
    "No scheduled jobs.",
    (("add_to_queue", "Add to queue", "primary"), ("kill", "Kill", "danger"), ("delete", "Delete", "danger")),
    (("add_to_queue", "Add all to queue", ""), ("delete", "Delete all", "danger")),
)
DEAD = Kind(
    "morgue",
    "Dead",
    "Dead job",
    api.DeadSet,
    "Last retry",
    "No dead jobs.",
    (("retry", "Retry now", "primary"), ("add_to_queue", "Add to queue", ""), ("delete", "Delete", "danger")),
    (("retry", "Retry all", ""), ("delete", "Delete all", "danger")),
    soonest_first=False,
)

#: What each action does to one entry, and the past tense the page reports.
ONE: dict[str, tuple[Callable[[api.JobSet, api.SortedEntry], bool], str]] = {
    "retry": (lambda s, e: s.retry(e), "retried"),
    "add_to_queue": (lambda s, e: s.add_to_queue(e), "added to their queue"),
    "kill": (lambda s, e: s.kill(e), "moved to Dead"),
    "delete": (lambda s, e: s.delete(e), "deleted"),
}
ALL: dict[str, tuple[Callable[[api.JobSet], int], str]] = {
    "retry": (lambda s: s.retry_all(), "retried"),
    "add_to_queue": (lambda s: s.add_all_to_queue(), "added to their queue"),
    "kill": (lambda s: s.kill_all(), "moved to Dead"),
    "delete": (lambda s: s.delete_all(), "deleted"),
}


def _allowed(kind: Kind, action: str, all_entries: bool = False) -> bool:
    return action in {a for a, _, _ in (kind.all_actions if all_entries else kind.actions)}


def listing(kind: Kind) -> Callable[[Request], object]:
    def handler(request: Request) -> Response:
        board = dashboard_of(request)
        job_set = kind.set_class(board.store)
        if request.method == "POST":
            return _act(request, kind, job_set, form_of(request).get("key", []))
        substr = request.query_params.get("substr", "").strip()
        job_class = request.query_params.get("class", "").strip()
        searching = bool(substr or job_class)
        if searching:
            found = job_set.search(substr, job_class=job_class or None)
            page = page_of(request, len(found), board.page_size, {"substr": substr, "class": job_class})
            entries = found[page.start : page.stop + 1]
            truncated = len(found) >= api.sets.SEARCH_LIMIT
        else:
            ascending = _ascending(request, kind.soonest_first)
            keep = {"direction": "asc" if ascending else "desc"}
            total = kind.size_of(board.stats(request))
            page = page_of(request, total, board.page_size, keep)
            entries = job_set.page(page.number, page.count, oldest_first=ascending, total=total).items
            truncated = False
        return board.render(
            request,
            "sorted_set.html",
            ascending=not searching and _ascending(request, kind.soonest_first),
            tab=kind.route,
            title=kind.title,
            kind=kind,
            entries=entries,
            page=page,
            total=page.total,
            substr=substr,
            job_class=job_class,
            searching=searching,
            truncated=truncated,
        )

    return handler


def entry(kind: Kind) -> Callable[[Request], object]:
    def handler(request: Request) -> Response:
        board = dashboard_of(request)
        job_set = kind.set_class(board.store)
        key = request.path_params["key"]
        if request.method == "POST":
            return _act(request, kind, job_set, [key])
        found = job_set.fetch(key)
        if found is None:
            return board.not_found(request, f"No job {key} in {kind.title}.")
        item = found.item or {}
        status = api.batches.status_of(found.jid, board.store) if item.get("status") else None
        lock = api.unique_lock(found.item, board.store)
        return board.render(
            request,
            "entry.html",
            tab=kind.route,
            title=f"{kind.singular} {found.jid}",
            kind=kind,
            e=found,
            bid=item.get("bid") if isinstance(item.get("bid"), str) else None,
            job_status=status,
            lock=lock,
        )

    return handler


def every(kind: Kind) -> Callable[[Request], object]:
    def handler(request: Request) -> Response:
        board = dashboard_of(request)
        action = request.path_params["action"]
        if not _allowed(kind, action, all_entries=True):
            return board.not_found(request, f"{kind.title} has no “{action}” for all jobs.")
        act, past = ALL[action]
        count = act(kind.set_class(board.store))
        return back(request, kind.route, f"{count:,} jobs {past}.")

    return handler


def _ascending(request: Request, default: bool) -> bool:
    """Lowest score first? ?direction=asc|desc, as Sidekiq's pages take it."""
    direction = request.query_params.get("direction")
    return default if direction not in ("asc", "desc") else direction == "asc"


def _act(request: Request, kind: Kind, job_set: api.JobSet, keys: list[str]) -> Response:
    form = form_of(request)
    action = (form.get("action") or [""])[-1]
    if not _allowed(kind, action):
        return back(request, kind.route, f"{kind.title} has no “{action}” action.")
    act, past = ONE[action]
    done = gone = 0
    for key in keys:
        try:
            found = job_set.get(key)
        except JobNotFound:
            gone += 1
            continue
        if act(job_set, found):
            done += 1
        else:
            gone += 1
    message = f"{done:,} {'job' if done == 1 else 'jobs'} {past}."
    if gone:
        message += f" {gone:,} had already moved on."
    if not keys:
        message = "Select jobs first."
    return back(request, kind.route, message)


def routes() -> list[Route]:
    result: list[Route] = []
    for kind in (RETRIES, SCHEDULED, DEAD):
        base = "/" + kind.route
        result += [
            Route(base, listing(kind), methods=["GET", "POST"], name=kind.route),
            Route(base + "/all/{action}", every(kind), methods=["POST"], name=kind.route + "_all"),
            Route(base + "/{key}", entry(kind), methods=["GET", "POST"], name=kind.route + "_entry"),
        ]
    return result
