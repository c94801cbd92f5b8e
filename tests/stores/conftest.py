"""More handles on the `store` fixture's data (the `store` and `store_url` fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sidequest.stores import Store, open_store


@pytest.fixture
def second_store(store: Store, store_url: str) -> Iterator[Store]:
    """Another handle on the same data (another connection or file handle; the same object for memory)."""
    if store_url.startswith("memory"):
        yield store
        return
    other = open_store(store_url)
    yield other
    other.close()
