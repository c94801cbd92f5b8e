"""The `store` fixture: every contract test runs once per store (memory, sqlite, redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest.stores import Store, open_store

STORES = ["memory", "sqlite", "redis"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def second_store(store: Store, store_url: str) -> Iterator[Store]:
    """Another handle on the same data (another connection or file handle; the same object for memory)."""
    if store_url.startswith("memory"):
        yield store
        return
    other = open_store(store_url)
    yield other
    other.close()
