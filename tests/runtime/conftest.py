"""Fixtures for tests that run real `sidequest worker` subprocesses on Redis and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidequest.stores import Store
from tests.support.worker import Worker


@pytest.fixture
def store(url_store: Store) -> Store:
    """Runtime tests call the installed store at url (tests/conftest.py) simply ``store``."""
    return url_store


@pytest.fixture
def workers(url: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*extra: str, **settings: float) -> Worker:
        worker = Worker(url, tmp_path, *extra, **settings)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()
