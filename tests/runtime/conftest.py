"""Fixtures for tests that run real `sidequest worker` subprocesses on Redis and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import sidequest
from sidequest.stores import Store
from sidequest.stores.memory import MemoryStore
from tests.support.worker import Worker


@pytest.fixture
def store(url_store: Store) -> Store:
    """Runtime tests call the installed store at url (tests/conftest.py) simply ``store``."""
    return url_store


@pytest.fixture
def memory_store() -> MemoryStore:
    """An in-process memory store, installed, with short heartbeats for workers run in this process."""
    memory = MemoryStore()
    config = sidequest.get_config()
    config.use_store(memory)
    config.update(heartbeat_interval=0.2, process_ttl=2, poll_interval=0.05)
    return memory


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
