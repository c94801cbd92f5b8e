"""Inline mode: every push runs its job at once, in the caller's thread, and nothing is stored.

The client has already serialised the payload, so the job receives its arguments after a JSON round
trip, as a worker would (tuples arrive as lists, for example). The configured server middleware runs
around the job. There are no retries: whatever the job raises propagates to the code that enqueued it,
as with Sidekiq's inline mode. Scheduled jobs run at once too; their ``at`` stays in the payload.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from sidequest.client import Delivery
from sidequest.config import get_config
from sidequest.testing._loop import run_coroutine


class InlineRunner:
    """The client's delivery override in inline mode; it remembers what it ran so tests can look."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._performed: list[dict[str, Any]] = []

    def deliver(self, delivery: Delivery) -> None:
        from sidequest.runtime.execute import run_job

        for _queue, at, raw in delivery:
            payload: dict[str, Any] = json.loads(raw)
            if at is not None:
                payload["at"] = at
            with self._lock:
                self._performed.append(payload)
            run_job(payload, get_config(), run_coroutine=run_coroutine)

    @property
    def performed(self) -> list[dict[str, Any]]:
        """Payloads run inline so far (including any that raised), oldest first."""
        with self._lock:
            return list(self._performed)

    def clear(self) -> None:
        with self._lock:
            self._performed = []


#: The process's inline runner (the mode switch points the client at ``runner.deliver``).
runner = InlineRunner()
