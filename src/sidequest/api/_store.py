"""Which store the operator API reads: one passed in, or the configured one, opened without creating."""

from __future__ import annotations

from sidequest.config import get_config
from sidequest.stores import Store, open_store


def connect(url: str | None = None) -> Store:
    """Open a store for operators: url, else the configured one (SIDEQUEST_URL, REDIS_URL, ./sidequest.db).

    Looking never creates: an SQLite file that is not there raises StoreNotFound ("no store at
    /abs/path/sidequest.db"), where a worker would create it.
    """
    settings = get_config().settings
    return open_store(
        url or settings.store_url,
        create=False,
        namespace=settings.namespace,
        sidekiq_version=settings.sidekiq_version,
    )


def resolve(store: Store | None) -> Store:
    """store, or the configured store (the one the client pushes to)."""
    if store is not None:
        return store
    return get_config().store
