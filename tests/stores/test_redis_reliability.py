"""Redis-only guarantees that need more than one example or more than one process: the Lua stamp of
enqueued_at equals payload.stamp_enqueued_at for any payload, and jobs held by a process killed with
SIGKILL come back through recovery."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidequest.errors import StoreError
from sidequest.payload import stamp_enqueued_at
from sidequest.stores.base import Beat, Work
from sidequest.stores.redis import RedisStore

REPO = Path(__file__).parents[2]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.floats(min_value=1e-9, max_value=1e-3),
    st.floats(min_value=1e15, max_value=1e20),
)


@st.composite
def payloads(draw: st.DrawFn) -> str:
    """Serialised job payloads as Ruby, Python or a hand-written tool might lay them out."""
    fields: dict[str, object] = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=5))
    fields["queue"] = draw(st.sampled_from(["default", "critical", "q:with.punct-1"]))
    fields.pop("enqueued_at", None)
    if draw(st.booleans()):
        fields["enqueued_at"] = draw(st.one_of(timestamps, st.integers(min_value=0, max_value=2**53)))
    if draw(st.booleans()):
        fields["args"] = [{"enqueued_at": draw(timestamps)}]  # a nested key the text edit may meet first
    items = list(fields.items())
    order = draw(st.permutations(range(len(items))))
    ordered = dict(items[i] for i in order)
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    text = json.dumps(ordered, separators=separators, ensure_ascii=draw(st.booleans()))
    return text + draw(st.sampled_from(["", " ", "\n", " \r\n\t"]))


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url)
    yield store
    store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=payloads(), now=timestamps)
def test_lua_stamps_enqueued_at_exactly_like_python(redis_store: RedisStore, raw: str, now: float) -> None:
    redis_store.set_clear("retry")
    redis_store.queue_clear("default")
    redis_store.queue_clear("critical")
    redis_store.queue_clear("q:with.punct-1")
    redis_store.add_to_set("retry", [(0.0, raw)])

    assert redis_store.promote_due("retry", now) == 1

    queue = json.loads(raw)["queue"]
    assert redis_store.queue_range(queue, 0, -1) == [stamp_enqueued_at(raw, now)]


CRASHING_WORKER = """
import json, sys, time
from sidequest.stores.base import Beat
from sidequest.stores.redis import RedisStore

store = RedisStore(sys.argv[1])
identity = "crashy:1:aaaaaaaaaaaa"
store.beat(Beat(identity, json.dumps({"identity": identity}), 0, time.time(), False, 0, 0, 1, {}, ttl=0.3))
held = store.fetch(identity, ["default", "low"], 4)
print(len(held), flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_jobs_of_a_killed_process_are_recovered_once_its_heartbeat_expires(redis_url: str) -> None:
    store = RedisStore(redis_url)
    try:
        store.push([("default", f"job-{i}") for i in range(3)] + [("low", "job-low")])
        with subprocess.Popen(
            [sys.executable, "-c", CRASHING_WORKER, redis_url], stdout=subprocess.PIPE, text=True, cwd=REPO
        ) as worker:
            try:
                assert worker.stdout is not None
                assert worker.stdout.readline().strip() == "4"
            finally:
                worker.kill()
        assert store.queue_size("default") == store.queue_size("low") == 0

        deadline = time.monotonic() + 10
        while store.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        recovered = store.recover()

        assert len(recovered) == 4
        assert sorted(store.queue_range("default", 0, -1)) == ["job-0", "job-1", "job-2"]
        assert store.queue_range("low", 0, -1) == ["job-low"]
        with redis.Redis.from_url(redis_url) as raw:
            assert not raw.keys("sidequest:inprogress*")
    finally:
        store.close()


def test_a_job_taken_while_a_recovery_ran_stays_recoverable(redis_url: str) -> None:
    worker, operator = RedisStore(redis_url), RedisStore(redis_url)
    identity = "stalled:1:aaaaaaaaaaaa"
    taken: list[Work] = []
    try:
        worker.beat(
            Beat(identity, json.dumps({"identity": identity}), 0, time.time(), False, 0, 0, 1, {}, ttl=1.0)
        )
        waiting = threading.Thread(
            target=lambda: taken.extend(worker.fetch(identity, ["default"], 1, timeout=20))
        )
        waiting.start()
        deadline = time.monotonic() + 10
        while operator.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(operator.recover()) == 0  # nothing held yet, but the registration is dropped

        operator.push([("default", "late")])
        waiting.join(30)

        assert taken == [Work("default", "late")]
        # the worker never beats again (it died): its job must still come back
        assert len(operator.recover()) == 1
        assert operator.queue_range("default", 0, -1) == ["late"]
    finally:
        worker.close()
        operator.close()


def test_a_begun_fetch_refused_for_a_missing_script_runs_again_once_loaded(redis_store: RedisStore) -> None:
    # a server restarted (or SCRIPT FLUSH) between two fetches has lost the fetch script: the begun
    # fetch's NOSCRIPT reply means nothing moved, so reading the result loads the script and fetches
    redis_store.queue_clear("default")
    redis_store.push([("default", "job-1"), ("default", "job-2")])
    assert redis_store.fetch("box:1:aaa", ["empty"], 1) == []
    redis_store._redis.script_flush()

    under_way = redis_store.fetch_begin("box:1:aaa", ["default"], 5)

    assert under_way.result() == [Work("default", "job-1"), Work("default", "job-2")]
    assert sorted(redis_store.in_progress("box:1:aaa"), key=str) == [
        Work("default", "job-1"),
        Work("default", "job-2"),
    ]
    redis_store.ack("box:1:aaa", [Work("default", "job-1"), Work("default", "job-2")])


def test_a_begun_fetch_whose_server_went_away_is_a_store_error(
    redis_server_factory: Any,
) -> None:
    server = redis_server_factory()
    store = RedisStore(server.url)
    try:
        store.push([("default", "job-1")])
        assert store.fetch("box:1:aaa", ["empty"], 1) == []
        server.stop()
        with pytest.raises(StoreError):
            store.fetch_begin("box:1:aaa", ["default"], 5).result()
    finally:
        store.close()
