"""The Redis keys of periodic schedules and unique locks, as another client (or an operator with
redis-cli) sees them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
import redis

from sidequest.config import get_config
from sidequest.middleware import unique
from sidequest.periodic import Schedule
from sidequest.periodic.scheduler import Scheduler
from sidequest.stores import open_store
from sidequest.stores.redis import RedisStore
from tests.periodic.feature_jobs import sync_account
from tests.periodic.test_scheduler import Report


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    get_config().use_store(store)
    unique.install()
    yield store


def test_a_unique_lock_is_unique_sha256_of_class_queue_and_args_holding_the_jid(
    redis_store: RedisStore, redis_url: str
) -> None:
    jid = sync_account.perform_async(7)

    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    digest = hashlib.sha256(
        json.dumps(["tests.unique.sync_account", "default", [7]], separators=(",", ":")).encode()
    ).hexdigest()
    assert raw.get(f"unique:{digest}") == jid
    assert 55 < raw.ttl(f"unique:{digest}") <= 60


def test_schedules_live_in_one_hash_and_their_state_in_one_hash_each(
    redis_store: RedisStore, redis_url: str
) -> None:
    schedule = Schedule("minutely", "* * * * *", Report.definition.name, args=("x",))
    worker = Scheduler(get_config(), redis_store, [schedule])
    worker.sync(1_795_999_980.0)
    worker.step(1_796_000_040.0)

    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    assert json.loads(raw.hget("sidequest:periodic", "minutely") or "{}")["cron"] == "* * * * *"
    state = raw.hgetall("sidequest:periodic:minutely")
    assert state["paused"] == "0" and float(state["last_tick"]) == 1_796_000_040.0
    assert raw.llen("queue:reports") == 1 and raw.sismember("queues", "reports")
