"""Shared fixtures: private redis-servers, the `store` fixture run once per store, a clean sidequest config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from sidequest.config import get_config
from sidequest.stores import Store, open_store
from tests.support.redis_server import RedisServer

#: Every store the contract holds for; tests taking `store` run once per entry.
STORES = ["memory", "sqlite", "redis"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session; tests get it flushed through redis_url."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's private redis-server, flushed before the test."""
    redis_server.client().flushall()
    return redis_server.url


def _fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store of kind with nothing in it: memory, an SQLite file in tmp_path, or the flushed Redis."""
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _fresh_url(request.param, request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def installed_store(store_url: str) -> Iterator[Store]:
    """A store of each kind, installed as this process's store (the one enqueue() pushes to)."""
    opened = open_store(store_url)
    get_config().use_store(opened)
    yield opened
    get_config().use_store(None)
    opened.close()


@pytest.fixture(params=["redis", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store that other processes can open too (worker subprocesses, CLI runs); a test
    file limits it to one kind with ``pytest.mark.parametrize("url", ["redis"], indirect=True)``."""
    return _fresh_url(request.param, request, tmp_path)


@pytest.fixture
def url_store(url: str) -> Iterator[Store]:
    """The store at url, installed as this process's store (the one enqueue() pushes to)."""
    opened = open_store(url)
    get_config().use_store(opened)
    yield opened
    get_config().use_store(None)
    opened.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the flushed private Redis, to read keys as Sidekiq would."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start extra private servers that a test may kill, pause or restart; all stopped at the end."""
    servers: list[RedisServer] = []

    def make(*, persistent: bool = False, port: int | None = None, start: bool = True) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", port, persistent=persistent)
        if start:
            server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_sidequest_config() -> Iterator[None]:
    """Each test starts with default settings and no store, and leaves none behind."""
    from sidequest import config as config_module

    saved = config_module._config
    config_module._config = config_module.Config()
    config_module._env_applied = True  # tests never pick up REDIS_URL from the machine
    try:
        yield
    finally:
        config_module._config.close_stores()
        config_module._config = saved
