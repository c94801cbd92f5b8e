"""Fixtures for periodic, unique and expiring jobs: a store of each kind, and no schedules left behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest.config import get_config
from sidequest.periodic import forget
from sidequest.stores import Store, open_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of each kind, installed as the process's store."""
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'periodic.db'}"
    else:
        url = str(request.getfixturevalue("redis_url"))
    opened = open_store(url)
    get_config().use_store(opened)
    yield opened


@pytest.fixture(params=["sqlite", "redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store that worker subprocesses can share, installed as the process's store."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = str(request.getfixturevalue("redis_url"))
    opened = open_store(url)
    get_config().use_store(opened)
    yield opened


@pytest.fixture(autouse=True)
def no_declared_schedules() -> Iterator[None]:
    forget()
    yield
    forget()
