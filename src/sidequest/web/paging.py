"""Paging for every list page: ``?page=N&count=25`` as in Sidekiq's Web UI, never loading a whole set."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request

PAGE_SIZES = (25, 50, 100, 500)
MAX_PAGE_SIZE = 1000


@dataclass
class Page:
    """Which slice of a list a request asks for, and the links to its neighbours."""

    number: int
    count: int
    total: int
    path: str
    keep: dict[str, str] = field(default_factory=dict)  # other query parameters the links carry (search)
    sizes: tuple[int, ...] = PAGE_SIZES

    @property
    def start(self) -> int:
        return (self.number - 1) * self.count

    @property
    def stop(self) -> int:
        """Inclusive index of the last row, as the API's range calls take it."""
        return self.start + self.count - 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.count))

    def link(self, number: int) -> str:
        query = {**self.keep, "page": str(number)}
        if self.count != PAGE_SIZES[0]:
            query["count"] = str(self.count)
        return f"{self.path}?{urlencode(query)}"

    def relink(self, **changes: str) -> str:
        """This list from page 1 with some query parameters changed (the order, say)."""
        query = {**self.keep, **changes}
        if self.count != PAGE_SIZES[0]:
            query["count"] = str(self.count)
        return f"{self.path}?{urlencode(query)}"

    def window(self) -> list[int | None]:
        """Page numbers to show: first, last and two either side of the current one; None marks a gap."""
        wanted = {1, self.pages, *range(self.number - 2, self.number + 3)}
        shown: list[int | None] = []
        previous = 0
        for n in sorted(n for n in wanted if 1 <= n <= self.pages):
            if n > previous + 1:
                shown.append(None)
            shown.append(n)
            previous = n
        return shown


def page_of(request: Request, total: int, default_count: int, keep: dict[str, str] | None = None) -> Page:
    """The page a request asks for, clamped to what exists."""
    count = _int(request.query_params.get("count"), default_count)
    count = min(max(count, 1), MAX_PAGE_SIZE)
    sizes = tuple(sorted({*PAGE_SIZES, default_count, count}))
    page = Page(1, count, total, request.url.path, {k: v for k, v in (keep or {}).items() if v}, sizes)
    page.number = min(max(_int(request.query_params.get("page"), 1), 1), page.pages)
    return page


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
