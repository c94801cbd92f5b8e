"""One handler per page at Sidekiq's Web UI paths; each reads and acts through ``sidequest.api``."""

from __future__ import annotations

from starlette.routing import Route

from sidequest.web.pages import metrics, overview, periodic, queues, sets


def routes() -> list[Route]:
    return [*overview.routes(), *queues.routes(), *sets.routes(), *metrics.routes(), *periodic.routes()]
