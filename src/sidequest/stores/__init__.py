"""Stores: one contract (base.Store), opened from a URL.

``redis://`` / ``rediss://`` / ``unix://`` select Redis, ``sqlite:///path`` an SQLite file (the default,
``./sidequest.db``), ``memory://`` an in-process store for tests. Imports are lazy so an unused backend
costs nothing.
"""

from __future__ import annotations

import os
from typing import Any

from sidequest.errors import ConfigError
from sidequest.stores.base import Beat, BeatResult, Counters, ProcessRecord, Store, Work

__all__ = ["Beat", "BeatResult", "Counters", "ProcessRecord", "Store", "Work", "location", "open_store"]


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
    if "://" not in url:
        guess = f"redis://{url}" if ":" in url and url.rsplit(":", 1)[1].isdigit() else f"sqlite:///{url}"
        raise ConfigError(
            f"store URL {redact(url)!r} has no scheme; did you mean {redact(guess)}? "
            "Use redis://host:port/db, sqlite:///path/to/file.db or memory://"
        )
    raise ConfigError(
        f"store URL {redact(url)!r} has an unknown scheme {scheme!r}; use redis://host:port/db, sqlite:///path/to/file.db or memory://"
    )


def location(url: str) -> str:
    """Where a store URL points, for logs: an SQLite file by its absolute path, Redis with any password redacted."""
    if url.split(":", 1)[0].lower() == "sqlite":
        from sidequest.stores.sqlite.database import parse_url

        try:
            return f"sqlite:///{os.path.abspath(parse_url(url, None, None).path)}"
        except ConfigError:
            return url
    return redact(url)


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
