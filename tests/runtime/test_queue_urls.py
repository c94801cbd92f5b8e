"""queue_urls: queues whose jobs live in another store, so one app can enqueue into several Redis
instances once one is not enough (docs/scaling.md), each fleet of workers fetching from its own."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sidequest
from sidequest.batches import Batch
from sidequest.config import get_config
from sidequest.errors import ConfigError
from sidequest.middleware import unique
from sidequest.stores import open_store
from tests.support.redis_server import RedisServer
from tests.support.worker import Worker, ledger


@pytest.fixture
def second_redis(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    """Another private redis-server: the one the routed queues live in."""
    return redis_server_factory()


def test_a_routed_queue_is_pushed_to_its_store_and_the_others_to_the_process_store(
    redis_url: str, second_redis: RedisServer
) -> None:
    sidequest.configure(url=redis_url, queue_urls={"mail": second_redis.url})

    mail = sidequest.enqueue("tests.record", ["to b"], queue="mail")
    other = sidequest.enqueue("tests.record", ["to a"])
    later = sidequest.enqueue("tests.record", ["later to b"], queue="mail", at=time.time() + 3600)
    bulk = sidequest.enqueue_bulk("tests.record", [["bulk 1"], ["bulk 2"]], queue="mail")

    home, routed = open_store(redis_url), open_store(second_redis.url)
    try:
        assert [json.loads(raw)["jid"] for raw in routed.queue_range("mail", 0, -1)] == [*bulk[::-1], mail]
        assert [json.loads(raw)["jid"] for raw in home.queue_range("default", 0, -1)] == [other]
        assert home.queue_size("mail") == 0 and routed.queue_size("default") == 0
        # a job for later waits in the schedule set of its queue's store, whose workers promote it
        assert [json.loads(raw)["jid"] for _, raw in routed.set_range("schedule", 0, -1)] == [later]
        assert home.set_size("schedule") == 0
    finally:
        home.close()
        routed.close()


def test_changing_queue_urls_keeps_the_process_store_and_reroutes(tmp_path: Path) -> None:
    own = open_store(f"sqlite:///{tmp_path / 'own.db'}")
    get_config().use_store(own)
    try:
        first, second = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
        sidequest.configure(queue_urls={"mail": first})
        routed = get_config().store_for("mail")
        sidequest.configure(queue_urls={"mail": second})
        assert get_config().store is own
        assert get_config().store_for("mail") is not routed
        assert get_config().store_for("default") is own
    finally:
        get_config().use_store(None)
        own.close()


def test_sqlite_queues_can_be_routed_to_another_file(tmp_path: Path) -> None:
    reports = f"sqlite:///{tmp_path / 'reports.db'}"
    sidequest.configure(url=f"sqlite:///{tmp_path / 'main.db'}", queue_urls={"reports": reports})
    jid = sidequest.enqueue("tests.record", ["x"], queue="reports")
    routed = open_store(reports)
    try:
        assert [json.loads(raw)["jid"] for raw in routed.queue_range("reports", 0, -1)] == [jid]
        assert get_config().store.queue_size("reports") == 0
    finally:
        routed.close()


def test_a_worker_on_the_routed_store_runs_the_routed_jobs(
    redis_url: str, second_redis: RedisServer, tmp_path: Path
) -> None:
    sidequest.configure(url=redis_url, queue_urls={"mail": second_redis.url})
    sidequest.enqueue("tests.record", ["ran on b"], queue="mail")

    worker = Worker(second_redis.url, tmp_path, "-q", "mail", "--burst")
    assert worker.wait() == 0, worker.output()
    assert ledger(tmp_path) == ["ran on b"]


def test_a_worker_warns_when_queue_urls_sends_its_queue_elsewhere(
    redis_url: str, second_redis: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIDEQUEST_QUEUE_URLS", f"mail={second_redis.url}")
    worker = Worker(redis_url, tmp_path, "-q", "mail", "-q", "default", "--burst")
    assert worker.wait() == 0, worker.output()
    warnings = [line for line in worker.output().splitlines() if "queue_urls" in line]
    assert len(warnings) == 1, worker.output()
    assert "queue mail:" in warnings[0] and f"--url {second_redis.url}" in warnings[0]


def test_a_unique_lock_lives_beside_its_routed_job_and_the_worker_side_releases_it(
    redis_url: str, second_redis: RedisServer
) -> None:
    unique.install()
    sidequest.configure(url=redis_url, queue_urls={"mail": second_redis.url})
    first = sidequest.enqueue("tests.record", ["once"], queue="mail", unique_for=60)
    assert first is not None
    assert sidequest.enqueue("tests.record", ["once"], queue="mail", unique_for=60) is None

    routed = open_store(second_redis.url)
    try:
        (raw,) = routed.queue_range("mail", 0, -1)
        payload = json.loads(raw)
        assert routed.unique_owner(payload["unique_digest"], time.time()) == first
        assert get_config().store.unique_owner(payload["unique_digest"], time.time()) is None

        # the worker that fetched it from the routed store releases it there, whatever its queue_urls
        worker_config = sidequest.config.Config(settings=sidequest.config.Settings(url=second_redis.url))
        try:
            assert unique.release(payload, worker_config)
        finally:
            worker_config.close_stores()
        assert routed.unique_owner(payload["unique_digest"], time.time()) is None
    finally:
        routed.close()
    assert sidequest.enqueue("tests.record", ["once"], queue="mail", unique_for=60) is not None


def test_batch_jobs_are_refused_on_a_routed_queue(redis_url: str, second_redis: RedisServer) -> None:
    sidequest.configure(url=redis_url, queue_urls={"mail": second_redis.url})
    batch = Batch(description="routed")
    with pytest.raises(ConfigError, match="queue 'mail' is routed to another store"), batch.jobs():
        sidequest.enqueue("tests.record", ["in a batch"], queue="mail")
    routed = open_store(second_redis.url)
    try:
        assert routed.queue_size("mail") == 0
    finally:
        routed.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mail=redis://b:6379/0", {"mail": "redis://b:6379/0"}),
        (
            "mail=redis://b:6379/0, reports=sqlite:///r.db",
            {"mail": "redis://b:6379/0", "reports": "sqlite:///r.db"},
        ),
        ('{"mail": "rediss://b:6380/1"}', {"mail": "rediss://b:6380/1"}),
    ],
)
def test_queue_urls_from_the_environment(value: str, expected: dict[str, str]) -> None:
    settings = sidequest.config.apply_sources(
        sidequest.config.Settings(), sidequest.config.env_sources({"SIDEQUEST_QUEUE_URLS": value})
    )
    assert dict(settings.queue_urls) == expected


def test_queue_urls_from_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "sidequest.toml"
    path.write_text('[queue_urls]\nmail = "redis://redis-b:6379/0"\n')
    assert sidequest.config.settings_from_toml(path) == {"queue_urls": {"mail": "redis://redis-b:6379/0"}}


@pytest.mark.parametrize(
    ("queue_urls", "message"),
    [
        ({"mail": "memory://"}, "maps queue 'mail' to memory://, which is not a store URL"),
        ({"mail": "redis-b:6379"}, "which is not a store URL"),
        ({"mail": 6379}, "maps queue 'mail' to 6379"),
        ({"bad queue": "redis://b:6379/0"}, "queue 'bad queue', which is not a valid queue name"),
        ({"mail": "redis://user:secret@b:6379/0x"}, None),  # a valid URL: accepted as it is
    ],
)
def test_bad_queue_urls_are_refused_with_the_entry_named(
    queue_urls: dict[str, object], message: str | None
) -> None:
    if message is None:
        assert sidequest.config.Settings(queue_urls=queue_urls).queue_urls == queue_urls  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        sidequest.configure(queue_urls=queue_urls)


def test_a_password_in_a_bad_queue_url_is_not_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        sidequest.configure(queue_urls={"mail": "http://user:secret@b:6379/0"})
    assert "secret" not in str(caught.value)


def test_an_entry_that_is_not_queue_equals_url_is_named() -> None:
    with pytest.raises(ConfigError, match="queue_urls entry 'redis://b:6379/0' is not queue=url"):
        sidequest.config.parse_queue_urls("redis://b:6379/0")
