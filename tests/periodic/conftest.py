"""Fixtures for periodic, unique and expiring jobs: a store of each kind, and no schedules left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sidequest.periodic import forget
from sidequest.stores import Store


@pytest.fixture
def store(installed_store: Store) -> Store:
    """A store of each kind, installed as the process's store (tests/conftest.py)."""
    return installed_store


@pytest.fixture
def shared_store(url_store: Store) -> Store:
    """A store that worker subprocesses can share, installed as the process's store."""
    return url_store


@pytest.fixture(autouse=True)
def no_declared_schedules() -> Iterator[None]:
    forget()
    yield
    forget()
