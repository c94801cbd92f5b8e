"""One handler per page at Sidekiq's Web UI paths; each reads and acts through ``sidequest.api``.

Handlers are plain functions, so Starlette runs them in its thread pool: a store call (a Redis round
trip, an SQLite count) never blocks the event loop of an app the dashboard is mounted in.
"""

from __future__ import annotations

from starlette.routing import Route

from sidequest.web.pages import batches, metrics, overview, periodic, queues, sets


def routes() -> list[Route]:
    return [
        *overview.routes(),
        *queues.routes(),
        *sets.routes(),
        *metrics.routes(),
        *periodic.routes(),
        *batches.routes(),
    ]
