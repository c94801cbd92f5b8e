"""What the operator methods write in Redis, byte for byte where Sidekiq reads it too."""

from __future__ import annotations

import pytest
import redis

from sidequest.stores.base import JobCounts
from sidequest.stores.redis import RedisStore
from tests.api.conftest import NOW

# NOW is 2026-11-28 01:02:31 UTC


@pytest.mark.parametrize(
    ("version", "key"), [("7", "j|20261128|1:2"), ("6", "j|20261128|1:2"), ("8", "j|261128|1:02")]
)
def test_metrics_use_sidekiqs_minute_hash(redis_url: str, raw: redis.Redis, version: str, key: str) -> None:
    store = RedisStore(redis_url, sidekiq_version=version)

    store.add_metrics({"HardJob": JobCounts(3, 1, 250.4)}, NOW)

    assert raw.hgetall(key) == {"HardJob|p": "3", "HardJob|f": "1", "HardJob|ms": "250"}
    assert 0 < raw.ttl(key) <= 8 * 3600
    store.close()


def test_a_paused_queue_is_in_sidekiq_pros_paused_set(redis_url: str, raw: redis.Redis) -> None:
    store = RedisStore(redis_url)

    store.pause_queue("mailers")

    assert raw.smembers("paused") == {"mailers"}
    store.resume_queue("mailers")
    assert raw.exists("paused") == 0
    store.close()


@pytest.mark.parametrize(("version", "key"), [("7", "HardJob-28-01:2"), ("8", "HardJob-28-1:2")])
def test_histograms_use_sidekiqs_bitfield_key(
    redis_url: str, raw: redis.Redis, version: str, key: str
) -> None:
    store = RedisStore(redis_url, sidekiq_version=version)
    buckets = [0] * 26
    buckets[0], buckets[25] = 2, 1

    store.add_metrics({"HardJob": JobCounts(3, 0, 400_010.0, buckets)}, NOW)

    assert raw.execute_command("BITFIELD_RO", key, "GET", "u16", "#0", "GET", "u16", "#25") == [2, 1]
    assert 0 < raw.ttl(key) <= 8 * 3600
    store.close()
