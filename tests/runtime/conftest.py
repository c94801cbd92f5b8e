"""Fixtures for tests that run real `sidequest worker` subprocesses on Redis and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidequest.config import get_config
from sidequest.stores import Store, open_store
from tests.support.worker import Worker


@pytest.fixture(params=["redis", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'worker.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = open_store(url)
    get_config().use_store(opened)
    yield opened
    opened.close()


@pytest.fixture
def workers(url: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*extra: str) -> Worker:
        worker = Worker(url, tmp_path, *extra)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()
