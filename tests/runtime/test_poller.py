"""The poller, the thread that moves due retries and scheduled jobs, through a store outage."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

import sidequest
from sidequest.runtime.poller import Poller
from sidequest.stores.redis import RedisStore
from tests.support.redis_server import RedisServer
from tests.support.worker import wait_for


def test_the_poller_says_once_that_the_store_is_gone_and_once_that_it_is_back(
    redis_server_factory: Callable[..., RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    # given a poller polling a Redis
    server = redis_server_factory()
    store = RedisStore(server.url)
    config = sidequest.get_config()
    config.use_store(store)
    config.update(poll_interval=0.05)
    poller = Poller(config, store)
    with caplog.at_level(logging.WARNING, logger="sidequest"):
        poller.start()
        try:
            # when the Redis goes away for a while, then comes back
            server.stop()
            wait_for(lambda: "scheduler: Redis" in caplog.text, what="the outage line")
            server.start()
            # then the log says so once each way
            wait_for(lambda: "scheduler: store is reachable again" in caplog.text, what="the recovery line")
        finally:
            poller.stop()
    lines = [record.getMessage() for record in caplog.records]
    assert sum(line.startswith("scheduler: Redis") for line in lines) == 1
    assert lines.count("scheduler: store is reachable again") == 1
