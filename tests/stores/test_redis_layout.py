"""What the Redis store leaves in Redis: Sidekiq's key names, types and value formats, checked with a
raw client against real Sidekiq 6.4.1 data (tests/interop/fixtures/sidekiq-6.4), plus the namespace, the wire
versions and how an unreachable server is reported."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from sidequest._time import utc_day
from sidequest.errors import ConfigError, StoreError, StoreUnavailable
from sidequest.payload import stamp_enqueued_at
from sidequest.stores import open_store
from sidequest.stores.base import Beat
from sidequest.stores.batches import Report
from sidequest.stores.redis import RedisStore
from tests.support.redis_server import RedisServer
from tests.support.worker import wait_for


def answers(store: RedisStore) -> Callable[[], bool]:
    """A condition: the store answers a ping."""

    def check() -> bool:
        try:
            store.ping()
        except StoreUnavailable:
            return False
        return True

    return check


FIXTURES = Path(__file__).parents[1] / "interop" / "fixtures" / "sidekiq-6.4"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


RUNNING = fixture("server_running.json")
CLIENT = fixture("client.json")
SETS = fixture("sets.json")
API = fixture("api.json")
SHUTDOWN = fixture("after_shutdown.json")
IDENTITY = RUNNING["processes_set"][0]  # vm:4859:477059e6440c


@pytest.fixture
def open_redis(redis_url: str) -> Iterator[Callable[..., RedisStore]]:
    opened: list[RedisStore] = []

    def make(**options: Any) -> RedisStore:
        store = RedisStore(redis_url, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def sidekiq_beat(**changes: Any) -> Beat:
    """The beat a Sidekiq 6.4 process sent in the fixture run, field for field."""
    record = RUNNING["process_hash"]
    fields: dict[str, Any] = dict(
        identity=IDENTITY,
        info=record["info"],
        busy=int(record["busy"]),
        beat=float(record["beat"]),
        quiet=record["quiet"] == "true",
        rss_kb=int(record["rss"]),
        rtt_us=int(record["rtt_us"]),
        concurrency=3,
        work=dict(RUNNING["running_hash"]),
        ttl=60.0,
        processed=int(RUNNING["stat_values"]["stat:processed"]),
        failed=int(RUNNING["stat_values"]["stat:failed"]),
    )
    fields.update(changes)
    return Beat(**fields)


def types_of(raw: redis.Redis) -> dict[str, str]:
    return {key: raw.type(key) for key in raw.keys("*")}


# ---- Sidekiq's names, types and values -----------------------------------------------------------


def test_a_heartbeat_writes_what_sidekiq_6_4_wrote(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis(sidekiq_version="6")

    store.beat(sidekiq_beat())

    assert raw.smembers("processes") == set(RUNNING["processes_set"])
    assert raw.hgetall(IDENTITY) == RUNNING["process_hash"]
    assert 50 < raw.ttl(IDENTITY) <= 60
    assert raw.hgetall(f"{IDENTITY}:workers") == RUNNING["running_hash"]
    assert 50 < raw.ttl(f"{IDENTITY}:workers") <= 60
    assert {key: raw.get(key) for key in RUNNING["stat_values"]} == RUNNING["stat_values"]
    assert raw.ttl("stat:processed:2026-11-28") > RUNNING["stat_daily_ttl"] - 60
    assert raw.ttl("stat:processed") == -1
    job_flow_keys = {"dead", "retry", "queues"}
    expected = {k for k in RUNNING["keys_while_running"] if k not in job_flow_keys}
    assert set(raw.keys("*")) == expected | {f"{IDENTITY}:work"}  # 6.5+ UIs read :work


def test_version_7_writes_only_the_work_hash_and_no_concurrency_field(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis()

    store.beat(sidekiq_beat())

    assert raw.hgetall(f"{IDENTITY}:work") == RUNNING["running_hash"]
    assert not raw.exists(f"{IDENTITY}:workers")
    assert set(raw.hkeys(IDENTITY)) == {"info", "busy", "beat", "rtt_us", "quiet", "rss"}
    assert store.work() == [(IDENTITY, tid, work) for tid, work in RUNNING["running_hash"].items()]


def test_version_8_writes_the_concurrency_field_and_readers_prefer_it(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis(sidekiq_version="8")

    store.beat(sidekiq_beat(concurrency=9))

    assert raw.hget(IDENTITY, "concurrency") == "9"
    assert json.loads(raw.hget(IDENTITY, "info") or "")["concurrency"] == 3
    assert [p.concurrency for p in store.processes()] == [9]


def test_an_idle_beat_leaves_no_running_jobs_hash(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis(sidekiq_version="6")
    store.beat(sidekiq_beat())

    store.beat(sidekiq_beat(busy=0, work={}, processed=0, failed=0))

    assert not raw.exists(f"{IDENTITY}:work", f"{IDENTITY}:workers")
    assert raw.hget(IDENTITY, "busy") == "0"
    assert raw.get("stat:processed") == RUNNING["stat_values"]["stat:processed"]


def test_a_clean_stop_leaves_what_sidekiq_left(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis(sidekiq_version="6")
    store.beat(sidekiq_beat())

    store.remove_process(IDENTITY)

    job_flow_keys = {"dead", "retry", "queues"}
    assert set(raw.keys("*")) == {k for k in SHUTDOWN["keys_after_clean_shutdown"] if k not in job_flow_keys}
    assert raw.smembers("processes") == set(SHUTDOWN["processes_set_after"])


def test_signals_are_a_list_with_sidekiqs_ttl(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis()

    store.signal(IDENTITY, "TSTP")

    assert raw.type(f"{IDENTITY}-signals") == "list"
    assert raw.lrange(f"{IDENTITY}-signals", 0, -1) == ["TSTP"]
    assert 50 < raw.ttl(f"{IDENTITY}-signals") <= 60


def test_jobs_sets_and_reliable_fetch_keys(open_redis: Callable[..., RedisStore], raw: redis.Redis) -> None:
    store = open_redis()
    pushed = CLIENT["queue_default_perform_async"]
    scheduled = CLIENT["schedule_member_perform_in"]

    store.push([("default", pushed), ("critical", pushed.replace('"default"', '"critical"'))])
    store.schedule([(1795831351.8586726, scheduled)])
    store.add_to_set("retry", [(score, member) for member, score in SETS["retry_members_with_scores"]])
    store.kill(SETS["dead_members_with_scores"][0][0], 1795827752.103859, 10_000, 15_552_000)
    store.beat(sidekiq_beat(work={}, processed=0, failed=0))
    [work] = store.fetch(IDENTITY, ["default"], 1)

    assert work.payload == pushed
    assert types_of(raw) == {
        "queues": "set",
        "queue:critical": "list",
        "schedule": "zset",
        "retry": "zset",
        "dead": "zset",
        "processes": "set",
        IDENTITY: "hash",
        "sidequest:inprogress": "set",
        f"sidequest:inprogress:{IDENTITY}": "set",
        f"sidequest:inprogress:{IDENTITY}|default": "list",
    }
    assert raw.smembers("queues") == {"default", "critical"}
    assert raw.zrange("schedule", 0, -1, withscores=True) == [(scheduled, 1795831351.8586726)]
    assert raw.smembers("sidequest:inprogress") == {IDENTITY}
    assert raw.smembers(f"sidequest:inprogress:{IDENTITY}") == {"default"}
    assert raw.lrange(f"sidequest:inprogress:{IDENTITY}|default", 0, -1) == [pushed]


def test_dead_set_keeps_sidekiqs_scores_exactly(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis()
    [(member, score)] = SETS["dead_members_with_scores"]

    store.kill(member, score, 10_000, 15_552_000)

    assert raw.zrange("dead", 0, -1, withscores=True) == [(member, score)]


def test_promoting_a_sidekiq_retry_changes_only_enqueued_at(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis()
    [(member, score)] = SETS["retry_members_with_scores"]
    raw.zadd("retry", {member: score})
    now = score + 0.5

    assert store.promote_due("retry", now) == 1

    [queued] = raw.lrange("queue:critical", 0, -1)
    assert queued == member.replace('"enqueued_at":1795827751.859789', f'"enqueued_at":{now!r}')
    assert queued == stamp_enqueued_at(member, now)
    assert raw.smembers("queues") == {"critical"}


def test_daily_counters_are_sidekiqs_keys_with_a_five_year_ttl(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis()
    now = time.time()

    store.add_counts(2, 1, now)

    day = utc_day(now)
    assert raw.mget("stat:processed", "stat:failed", f"stat:processed:{day}", f"stat:failed:{day}") == [
        "2",
        "1",
        "2",
        "1",
    ]
    assert raw.ttl(f"stat:failed:{day}") > 157_680_000 - 60

    store.reset_counters()
    assert raw.mget("stat:processed", "stat:failed") == ["0", "0"]


# ---- reading what Ruby wrote ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["6", "7", "8"])
def test_reads_a_sidekiq_6_4_process_and_its_running_jobs(
    open_redis: Callable[..., RedisStore], raw: redis.Redis, version: str
) -> None:
    raw.sadd("processes", IDENTITY)
    raw.hset(IDENTITY, mapping=RUNNING["process_hash"])
    raw.hset(f"{IDENTITY}:workers", mapping=RUNNING["running_hash"])
    store = open_redis(sidekiq_version=version)

    [process] = store.processes()

    assert process.identity == IDENTITY
    assert process.info == RUNNING["process_info_parsed"]
    assert (process.busy, process.quiet, process.rss_kb, process.rtt_us) == (1, False, 30560, 69)
    assert process.concurrency == 3  # from info: 6.4 has no concurrency field
    assert process.beat == float(RUNNING["process_hash"]["beat"])
    assert store.work() == [(IDENTITY, tid, work) for tid, work in RUNNING["running_hash"].items()]


def test_reads_sidekiq_queues_sets_and_stats(open_redis: Callable[..., RedisStore], raw: redis.Redis) -> None:
    raw.sadd("queues", *CLIENT["queues_set"])
    raw.rpush("queue:default", *CLIENT["queue_default_after_bulk"])
    raw.zadd("retry", {m: s for m, s in SETS["retry_members_with_scores"]})
    raw.mset(RUNNING["stat_values"])
    store = open_redis()

    assert store.queue_names() == ["default"]
    assert store.queue_oldest("default") == CLIENT["queue_default_perform_async"]
    assert store.set_range("retry", 0, -1) == [(s, m) for m, s in SETS["retry_members_with_scores"]]
    assert (store.counters().processed, store.counters().failed) == (
        API["stats"]["processed"],
        API["stats"]["failed"],
    )
    history = store.history(7, float(RUNNING["process_hash"]["beat"]))
    assert {day: processed for day, (processed, _) in history.items()} == API["history_7d"]
    assert store.fetch(IDENTITY, ["default"], 5)[0].payload == CLIENT["queue_default_perform_async"]


def test_processes_without_a_record_are_pruned_at_most_once_a_minute(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    store = open_redis()
    store.beat(sidekiq_beat())
    raw.sadd("processes", "gone:1:aaa")

    assert [p.identity for p in store.processes()] == [IDENTITY]
    assert raw.smembers("processes") == {IDENTITY}
    assert 50 < raw.ttl("process_cleanup") <= 60

    raw.sadd("processes", "gone:2:bbb")
    assert [p.identity for p in store.processes()] == [IDENTITY]
    assert "gone:2:bbb" in raw.smembers("processes")  # the guard holds until it expires, as in Sidekiq


# ---- namespace -------------------------------------------------------------------------------------


def test_a_namespace_prefixes_every_key(open_redis: Callable[..., RedisStore], raw: redis.Redis) -> None:
    store = open_redis(namespace="myapp", sidekiq_version="6")
    plain = open_redis()

    store.push([("default", CLIENT["queue_default_perform_async"])])
    store.schedule([(1.0, CLIENT["schedule_member_perform_in"]), (2.0, "not json")])
    store.promote_due("schedule", 5.0)
    store.beat(sidekiq_beat())
    store.fetch(IDENTITY, ["default", "low"], 5)
    store.signal(IDENTITY, "TSTP")
    store.kill("x", 1.0, 100, 1e9)
    store.processes()

    keys = set(raw.keys("*"))
    assert keys and all(key.startswith("myapp:") for key in keys), sorted(keys)
    assert {"myapp:queues", "myapp:processes", f"myapp:{IDENTITY}", f"myapp:{IDENTITY}:workers"} <= keys
    assert plain.queue_names() == [] and plain.processes() == [] and plain.set_size("dead") == 0
    assert store.queue_names() == ["default", "low"]


def test_recovery_works_inside_a_namespace(open_redis: Callable[..., RedisStore], raw: redis.Redis) -> None:
    store = open_redis(namespace="myapp")
    store.beat(sidekiq_beat(ttl=0.3))
    store.push([("default", CLIENT["queue_default_perform_async"])])
    store.fetch(IDENTITY, ["default"], 5)
    deadline = time.monotonic() + 10
    while store.processes() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert len(store.recover()) == 1
    assert raw.lrange("myapp:queue:default", 0, -1) == [CLIENT["queue_default_perform_async"]]
    assert not [key for key in raw.keys("*") if "inprogress" in key]


def test_open_store_passes_namespace_and_version(redis_url: str, raw: redis.Redis) -> None:
    store = open_store(redis_url, namespace="ns", sidekiq_version="6")
    try:
        store.beat(sidekiq_beat())
    finally:
        store.close()

    assert raw.exists(f"ns:{IDENTITY}:workers")


# ---- failures --------------------------------------------------------------------------------------


def test_scripts_survive_a_script_flush(open_redis: Callable[..., RedisStore], raw: redis.Redis) -> None:
    store = open_redis()
    store.push([("default", "a")])
    assert store.fetch("box:1:aaa", ["default"], 1)

    raw.script_flush()
    store.push([("default", "b")])

    assert [w.payload for w in store.fetch("box:1:aaa", ["default"], 1)] == ["b"]
    raw.script_flush()
    assert len(store.recover()) == 2  # box:1:aaa never beat, so it counts as gone
    raw.script_flush()
    assert store.promote_due("retry", 1.0) == 0


def test_every_script_runs_again_after_a_script_flush(
    open_redis: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    # given a store that has run each of its scripts once, and a server that then forgets them all
    store = open_redis()
    job = '{"class":"A","args":[],"queue":"default","jid":"j1"}'

    def every_operation() -> list[Any]:
        raw.flushdb()
        store.push([("default", job), ("default", job)])
        fetched = store.fetch("box:1:aaa", ["default"], 2)
        store.requeue("box:1:aaa", fetched[:1])
        acked = store.ack("box:1:aaa", fetched[1:])
        store.push([("default", job)])
        store.fetch("box:2:bbb", ["default"], 1)
        store.fetch("box:3:ccc", ["default"], 1)
        recovered = store.recover()  # two gone processes: two scripts in one write
        store.add_to_set("retry", [(1.0, job)])
        promoted = store.promote_due("retry", 2.0)
        store.add_to_set("retry", [(1.0, job)])
        enqueued = store.set_enqueue("retry", [(job, job)], 3.0)
        store.add_to_set("retry", [(1.0, job)])
        killed = store.set_kill("retry", [job], 3.0, 100, 3600.0)
        synced = store.periodic_sync({"nightly": "{}"}, 3.0)
        claimed = store.periodic_claim("nightly", 60.0, "default", job, "j2", 61.0)
        paused = store.periodic_pause("nightly", True, 62.0)
        store.periodic_outcome("nightly", "j2", "ok", 63.0)
        store.unique_lock("k", "j3", 60.0, 63.0)
        unlocked = store.unique_unlock("k", "j3")
        created = store.batch_create("b1", "{}", [], 63.0, 3600.0, 60.0)
        added = store.batch_add("b1", ["j4", "j5"])
        fired = store.batch_done_many([Report("b1", "j4", "success", "", 64.0)])
        return [
            acked,
            len(recovered),
            promoted,
            enqueued,
            killed,
            synced,
            claimed,
            paused,
            unlocked,
            created,
            added,
            fired,
        ]

    first = every_operation()
    raw.script_flush()

    # when every operation runs again, then each gives what it gave with the scripts loaded
    assert every_operation() == first
    assert first[1] == 2


def test_a_wrong_key_type_is_a_store_error(open_redis: Callable[..., RedisStore], raw: redis.Redis) -> None:
    raw.set("queue:default", "not a list")
    store = open_redis()

    with pytest.raises(StoreError, match="WRONGTYPE"):
        store.push([("default", "a")])


def test_an_unreachable_server_is_store_unavailable_and_recovers_after_restart(
    redis_server_factory: Callable[[], RedisServer],
) -> None:
    server = redis_server_factory()
    server.client().config_set("requirepass", "s3cret-pw")
    store = RedisStore(f"redis://:s3cret-pw@127.0.0.1:{server.port}/0")
    try:
        store.push([("default", "a")])
        server.stop()

        for operation in (
            lambda: store.push([("default", "b")]),
            lambda: store.fetch("box:1:aaa", ["default"], 1, timeout=0.5),
            lambda: store.beat(sidekiq_beat()),
            store.ping,
            store.processes,
        ):
            with pytest.raises(StoreUnavailable) as caught:
                operation()
            message = str(caught.value)
            assert "s3cret-pw" not in message and "\n" not in message
            assert f"127.0.0.1:{server.port}" in message

        server.start()
        server.client().config_set("requirepass", "s3cret-pw")
        wait_for(answers(store), what="the server back")
        store.push([("default", "c")])
        assert [w.payload for w in store.fetch("box:1:aaa", ["default"], 5)] == ["c"]
    finally:
        store.close()


def test_a_wrong_password_is_a_store_error_that_does_not_show_it(
    redis_server_factory: Callable[[], RedisServer],
) -> None:
    server = redis_server_factory()
    server.client().config_set("requirepass", "right-pw")
    store = RedisStore(f"redis://:wrong-pw@127.0.0.1:{server.port}/0")
    try:
        with pytest.raises(StoreError) as caught:
            store.ping()
    finally:
        store.close()

    assert not isinstance(caught.value, StoreUnavailable)  # retrying will not help: say so at once
    assert "wrong-pw" not in str(caught.value) and "password" in str(caught.value)


def test_a_fetch_waiting_when_the_server_dies_raises_store_unavailable(
    redis_server_factory: Callable[[], RedisServer],
) -> None:
    server = redis_server_factory()
    store = RedisStore(server.url)
    stopper = threading.Timer(0.3, server.stop)
    try:
        stopper.start()
        with pytest.raises(StoreUnavailable):
            store.fetch("box:1:aaa", ["default"], 1, timeout=20)
    finally:
        stopper.join()
        store.close()


def test_a_hung_server_is_store_unavailable_after_the_socket_timeout(
    redis_server_factory: Callable[[], RedisServer],
) -> None:
    server = redis_server_factory()
    store = RedisStore(server.url, socket_timeout=0.5)
    try:
        store.push([("default", "a")])
        server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="unavailable"):
                store.queue_size("default")
            assert time.monotonic() - started < 10
        finally:
            server.resume()

        wait_for(answers(store), what="the server back")
        assert store.queue_size("default") == 1
    finally:
        store.close()


def test_a_malformed_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisStore("redis://:hunter2@localhost:notaport/0")

    assert "hunter2" not in str(caught.value) and "notaport" in str(caught.value)
