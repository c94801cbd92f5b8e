"""The unique-job lock of a job, for its page on the dashboard (sidequest.middleware.unique takes and frees it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidequest._time import now
from sidequest.api._store import resolve
from sidequest.middleware.unique import digest
from sidequest.stores.base import Store


@dataclass(frozen=True)
class UniqueLock:
    """A unique job's lock as it stands now: who holds it (a jid, or None once released or expired)."""

    key: str
    owner: str | None
    held_by_this_job: bool
    unique_for: float
    unique_until: str


def unique_lock(item: Mapping[str, Any] | None, store: Store | None = None) -> UniqueLock | None:
    """The lock of the job whose payload is item, or None when the job is not a unique one."""
    if not item:
        return None
    unique_for = item.get("unique_for")
    if isinstance(unique_for, bool) or not isinstance(unique_for, int | float):
        return None
    key = item.get("unique_digest")
    if not isinstance(key, str):
        key = digest(str(item.get("class")), str(item.get("queue")), item.get("args") or [])
    owner = resolve(store).unique_owner(key, now())
    return UniqueLock(
        key=key,
        owner=owner,
        held_by_this_job=owner is not None and owner == item.get("jid"),
        unique_for=float(unique_for),
        unique_until=str(item.get("unique_until") or "success"),
    )
