"""Where batch bookkeeping and job status records live: the configured store, or a private one in tests.

In fake and inline testing modes (the client's delivery override is set) there is no real store to
keep batches in, so they live in an in-process MemoryStore, and callbacks that fire are handed to the
client's delivery, so fake mode lists them and inline mode runs them, as a worker would have.
"""

from __future__ import annotations

import threading

from sidequest import client
from sidequest._time import now
from sidequest.config import get_config
from sidequest.payload import queue_of, stamp_enqueued_at
from sidequest.stores.base import Store
from sidequest.stores.memory import MemoryStore

_lock = threading.Lock()
_testing: tuple[object, MemoryStore] | None = None


def store() -> Store:
    """The store batches and status records use now."""
    override = client.get_delivery_override()
    if override is None:
        return get_config().store
    global _testing
    with _lock:
        if _testing is None or _testing[0] is not override:
            _testing = (override, MemoryStore())
        return _testing[1]


def deliver_fired(used: Store, fired: list[str]) -> None:
    """In testing modes, enqueue the callbacks that fired through the client, as the poller would."""
    if not fired or not isinstance(used, MemoryStore) or _testing is None or used is not _testing[1]:
        return
    due = [raw for _, raw in used.set_range("schedule", 0, -1)]
    if not due:
        return
    used.set_remove("schedule", due)
    stamp = now()
    client.get_client().deliver(
        [(queue_of(raw, "default"), None, stamp_enqueued_at(raw, stamp)) for raw in due]
    )
