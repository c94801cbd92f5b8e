"""sidequest's pytest plugin, loaded through the ``pytest11`` entry point once sidequest is installed.

Fixtures only: installing sidequest changes no test that does not ask for one of these.

- ``sidequest_fake``: fake mode for one test, with empty job lists before and after; yields the lists
  (``.jobs_for(job)``, ``.all_jobs()``, ``.drain(job)``, ...).
- ``sidequest_inline``: inline mode for one test; yields the runner, whose ``.performed`` lists what ran.
- ``sidequest_clock``: the test clock, frozen at the current time; unfrozen after the test.
- ``sidequest_store``: a real, empty store, installed as the configured store, with the testing mode
  set to ``disabled`` for the test. It runs each test once per store kind in the ``sidequest_stores`` ini
  option (default ``memory sqlite redis``); narrow one test with
  ``@pytest.mark.parametrize("sidequest_store", ["memory"], indirect=True)``. The Redis variant needs a
  URL, from the ``SIDEQUEST_TEST_REDIS_URL`` environment variable or the ``sidequest_redis_url`` ini
  option (the variable wins); without one it is skipped. Its database is flushed before each test, so
  point it at a database used only by tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidequest.stores.base import Store
from sidequest.testing import clear_all, clock, disable, fake, inline, queues, runner
from sidequest.testing.clock import Clock
from sidequest.testing.fake import FakeQueues
from sidequest.testing.inline import InlineRunner

STORE_KINDS = ("memory", "sqlite", "redis")
REDIS_URL_ENV = "SIDEQUEST_TEST_REDIS_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "sidequest_stores",
        type="args",
        default=list(STORE_KINDS),
        help="store kinds the sidequest_store fixture runs each test against (memory sqlite redis)",
    )
    parser.addini(
        "sidequest_redis_url",
        default="",
        help=f"Redis URL for sidequest_store's redis variant (flushed per test); {REDIS_URL_ENV} overrides it",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests that use sidequest_store once per configured store kind, unless they chose their own."""
    if "sidequest_store" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        listed = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "sidequest_store" in listed:
            return
    kinds = list(metafunc.config.getini("sidequest_stores"))
    unknown = sorted(set(kinds) - set(STORE_KINDS))
    if unknown:
        raise pytest.UsageError(
            f"sidequest_stores lists unknown store kind(s) {', '.join(unknown)}; use any of {' '.join(STORE_KINDS)}"
        )
    metafunc.parametrize("sidequest_store", kinds, indirect=True)


@pytest.fixture
def sidequest_fake() -> Iterator[FakeQueues]:
    """Fake mode for this test: pushes are captured in memory, starting from empty lists."""
    clear_all()
    with fake():
        yield queues
    clear_all()


@pytest.fixture
def sidequest_inline() -> Iterator[InlineRunner]:
    """Inline mode for this test: each push runs its job at once; exceptions reach the caller."""
    runner.clear()
    with inline():
        yield runner
    runner.clear()


@pytest.fixture
def sidequest_clock() -> Iterator[Clock]:
    """The test clock, frozen now: advance() and travel() move it; fake-mode drains run what is due."""
    with clock.freeze():
        yield clock
    clock.unfreeze()


def _redis_url(config: pytest.Config) -> str:
    return os.environ.get(REDIS_URL_ENV) or str(config.getini("sidequest_redis_url") or "")


def _store_url(kind: str, request: pytest.FixtureRequest) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        directory: Path = request.getfixturevalue("tmp_path")
        return f"sqlite:///{directory / 'sidequest.db'}"
    url = _redis_url(request.config)
    if not url:
        pytest.skip(
            f"no Redis for sidequest_store: set {REDIS_URL_ENV} or the sidequest_redis_url ini option"
        )
    return url


@pytest.fixture
def sidequest_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty store of one kind, used by perform_async for this test (testing mode: disabled)."""
    from sidequest.config import get_config
    from sidequest.stores import open_store

    kind = getattr(request, "param", "memory")
    if kind not in STORE_KINDS:
        pytest.fail(
            f"sidequest_store has no kind {kind!r}; use one of {', '.join(STORE_KINDS)}", pytrace=False
        )
    url = _store_url(kind, request)
    if kind == "redis":
        _flush_redis(url)
    store = open_store(url)
    config = get_config()
    previous = config._store
    config.use_store(store)
    try:
        with disable():
            yield store
    finally:
        config.use_store(previous)
        store.close()


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
