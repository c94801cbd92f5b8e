"""The hooks every Config carries for sidequest.batches: a server middleware and a death handler.

They live here, apart from sidequest.batches, because config.py builds its default Config at import
time and must not import the client; the work is imported on the first job that needs it. Jobs without
``bid`` or ``status`` pass straight through, with no store call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar


class BatchServer:
    """Reports batch jobs to their batch and ``status`` jobs to their record (sidequest.batches)."""

    options: ClassVar[frozenset[str]] = frozenset({"status"})
    only_for: ClassVar[frozenset[str]] = frozenset({"bid", "status"})

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        if not payload.get("bid") and not payload.get("status"):
            return call_next()
        global _run_tracked
        if _run_tracked is None:
            from sidequest.batches.middleware import run_tracked

            _run_tracked = run_tracked
        return _run_tracked(job, payload, call_next)


_run_tracked: Callable[[Any, dict[str, Any], Callable[[], Any]], Any] | None = None


def on_death(payload: dict[str, Any], exc: BaseException) -> None:
    """Death handler: a batch job's death reaches its batch, a status job's its record."""
    if not payload.get("bid") and not payload.get("status"):
        return
    from sidequest.batches.middleware import report_death

    report_death(payload, exc)
