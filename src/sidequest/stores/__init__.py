"""Stores: one contract (base.Store), opened from a URL.

``redis://`` / ``rediss://`` / ``unix://`` select Redis, ``sqlite:///path`` an SQLite file (the default,
``./sidequest.db``), ``memory://`` an in-process store for tests. Imports are lazy so an unused backend
costs nothing.
"""

from __future__ import annotations

from typing import Any

from sidequest.errors import ConfigError
from sidequest.stores.base import Beat, BeatResult, Counters, ProcessRecord, Store, Work

__all__ = ["Beat", "BeatResult", "Counters", "ProcessRecord", "Store", "Work", "open_store"]


def open_store(url: str, *, create: bool = True, **options: Any) -> Store:
    """Open the store a URL names. options: namespace, sidekiq_version (Redis), and backend extras.

    With create=False (operators looking at a store) an SQLite file that is not there raises
    StoreNotFound instead of being created.
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        from sidequest.stores.redis import RedisStore

        return RedisStore(url, **options)
    if scheme == "sqlite":
        from sidequest.stores.sqlite import SQLiteStore

        return SQLiteStore(
            url,
            create=create,
            **{k: v for k, v in options.items() if k not in ("namespace", "sidekiq_version")},
        )
    if scheme == "memory":
        from sidequest.stores.memory import MemoryStore

        return MemoryStore()
    raise ConfigError(
        f"store URL {redact(url)!r} has an unknown scheme {scheme!r}; use redis://host:port/db, sqlite:///path/to/file.db or memory://"
    )


def redact(url: str) -> str:
    """A URL safe to print: any password is replaced by ***."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, _, host = rest.rpartition("@")
    if ":" in credentials:
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return f"{scheme}://***@{host}"
