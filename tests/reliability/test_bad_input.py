"""Bad input written by another client: the worker keeps running, every bad entry ends where people
look (the dead set, or the retry set for a job that failed) with an error that says why, and the good
jobs around it all run. In-process burst workers on every store, fed by hypothesis."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sidequest
import tests.reliability.jobs  # noqa: F401  (registers the reliability.* jobs in this process)
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store
from sidequest.stores.redis import RedisStore
from tests.reliability.harness import Ledger

pytestmark = pytest.mark.slow

GOOD = 5  # good jobs pushed before and after the bad entries


@pytest.fixture
def store(installed_store: Store) -> Store:
    """A store of each kind (tests/conftest.py), with a quick worker's settings."""
    sidequest.get_config().update(heartbeat_interval=0.2, process_ttl=2, poll_interval=0.05, concurrency=3)
    return installed_store


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    found = Ledger(tmp_path / "ledger.txt")
    for name, value in found.env.items():
        monkeypatch.setenv(name, value)
    return found


def clear(store: Store, ledger: Ledger) -> None:
    for name in store.queue_names():
        store.queue_clear(name)
    for name in ("schedule", "retry", "dead"):
        store.set_clear(name)
    ledger.path.unlink(missing_ok=True)


def good_payload(tag: str, **fields: Any) -> str:
    return json.dumps(
        {
            "retry": True,
            "queue": "default",
            "args": [tag],
            "class": "reliability.mark",
            "jid": tag,
            "created_at": 1.0,
        }
        | fields
    )


def push_raw(store: Store, entries: list[str | bytes]) -> None:
    """Push entries as another client would: raw bytes straight into Redis, text through the store."""
    for entry in entries:
        if isinstance(entry, bytes):
            assert isinstance(store, RedisStore)
            redis_client = store._connection.client
            redis_client.sadd("queues", "default")
            redis_client.lpush("queue:default", entry)
        else:
            store.push([("default", entry)])


def run_burst() -> Launcher:
    launcher = Launcher(sidequest.get_config(), burst=True)
    assert launcher.run() == 0
    return launcher


def entries_with_errors(store: Store, name: str) -> list[dict[str, Any]]:
    found = []
    for _, raw in store.set_range(name, 0, -1):
        entry = json.loads(raw)
        assert isinstance(entry, dict), raw
        assert isinstance(entry.get("error_message"), str) and entry["error_message"], raw
        found.append(entry)
    return found


def assert_accounted(store: Store, ledger: Ledger, launcher: Launcher, bad: int, ran_ok: int = 0) -> None:
    """Good jobs ran once; every bad entry is in the dead or retry set with a reason, or ran."""
    ran = ledger.tags()
    assert all(ran[f"good-{n}"] == 1 for n in range(2 * GOOD)), ran
    dead = entries_with_errors(store, "dead")
    retries = entries_with_errors(store, "retry")
    bad_runs = sum(count for tag, count in ran.items() if not tag.startswith("good-"))
    assert len(dead) + len(retries) + bad_runs == bad, (len(dead), len(retries), bad_runs, bad)
    assert bad_runs == ran_ok or ran_ok < 0
    assert store.queue_size("default") == 0 and store.in_progress(launcher.identity) == []


def run_around(store: Store, bad: list[str | bytes]) -> Launcher:
    sidequest.enqueue_bulk("reliability.mark", [[f"good-{n}"] for n in range(GOOD)])
    push_raw(store, bad)
    sidequest.enqueue_bulk("reliability.mark", [[f"good-{n}"] for n in range(GOOD, 2 * GOOD)])
    return run_burst()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
NOT_STRING = JSON_VALUES.filter(lambda value: not isinstance(value, str))
NOT_LIST = JSON_VALUES.filter(lambda value: not isinstance(value, list))

#: Fields a failing job's retry logic reads, with any JSON type (Sidekiq's are int/bool/float/str).
RETRY_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "retry": JSON_VALUES,
        "retry_count": JSON_VALUES,
        "created_at": JSON_VALUES,
        "failed_at": JSON_VALUES,
        "retry_for": JSON_VALUES,
        "backtrace": JSON_VALUES,
        "retry_queue": JSON_VALUES,
        "dead": JSON_VALUES,
        "jid": JSON_VALUES,
        "queue": JSON_VALUES,
    },
)

BAD_TEXT = st.one_of(
    st.text(max_size=40),  # mostly not JSON at all
    st.just("{"),
    st.just('{"class": "reliability.mark", "args": ["x"'),
    JSON_VALUES.map(json.dumps),  # JSON, but rarely an object with a class
    NOT_STRING.map(lambda value: json.dumps({"class": value, "args": []})),
    NOT_LIST.map(lambda value: json.dumps({"class": "reliability.mark", "args": value})),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(BAD_TEXT, min_size=1, max_size=6))
def test_malformed_entries_in_a_queue_go_to_the_dead_set_with_the_reason(
    store: Store, ledger: Ledger, bad: list[str]
) -> None:
    clear(store, ledger)
    launcher = run_around(store, list(bad))
    # entries that happen to be runnable (e.g. "args" given as a JSON object turned list) are fine too
    assert_accounted(store, ledger, launcher, len(bad), ran_ok=-1)
    for entry in entries_with_errors(store, "dead"):
        assert entry["class"] == "sidequest.InvalidPayload" or entry.get("error_class"), entry


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.lists(RETRY_FIELDS, min_size=1, max_size=4))
def test_a_failing_job_with_wrong_typed_fields_ends_in_the_retry_or_dead_set(
    store: Store, ledger: Ledger, fields: list[dict[str, Any]]
) -> None:
    clear(store, ledger)
    bad = [
        json.dumps({"class": "reliability.fail", "args": [f"bad-{n}"]} | extra)
        for n, extra in enumerate(fields)
    ]
    launcher = run_around(store, list(bad))
    # Sidekiq's rules: retry: false drops a failed job; dead: false drops it once retries run out
    dropped = sum(1 for extra in fields if extra.get("retry") is False)
    may_drop = sum(1 for extra in fields if extra.get("retry") is False or extra.get("dead") is False)
    kept = len(entries_with_errors(store, "dead")) + len(entries_with_errors(store, "retry"))
    assert len(bad) - may_drop <= kept <= len(bad) - dropped
    assert_accounted(store, ledger, launcher, kept)


# Only Redis stores arbitrary bytes; SQLite and memory hold text, so this runs on Redis alone.
@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(st.binary(max_size=40), min_size=1, max_size=6))
def test_random_bytes_in_a_redis_queue_go_to_the_dead_set_byte_for_byte(
    store: Store, ledger: Ledger, raw: list[bytes]
) -> None:
    assert isinstance(store, RedisStore)
    clear(store, ledger)
    launcher = run_around(store, list(raw))
    assert_accounted(store, ledger, launcher, len(raw), ran_ok=-1)
    client = store._connection.client
    kept = {
        json.loads(entry)["args"][0].encode("utf-8", "surrogateescape")
        for entry in client.zrange("dead", 0, -1)
    }
    assert {entry for entry in raw if entry not in kept} <= {entry for entry in raw if _runnable(entry)}, (
        "every unrunnable entry is kept byte for byte"
    )


def _runnable(raw: bytes) -> bool:
    try:
        value = json.loads(raw)
    except ValueError:
        return False
    return isinstance(value, dict) and isinstance(value.get("class"), str)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(BAD_TEXT, min_size=1, max_size=4), target=st.sampled_from(["schedule", "retry"]))
def test_malformed_entries_in_the_schedule_and_retry_sets_end_in_the_dead_set_with_the_reason(
    store: Store, ledger: Ledger, bad: list[str], target: str
) -> None:
    clear(store, ledger)
    sidequest.enqueue_bulk("reliability.mark", [[f"good-{n}"] for n in range(2 * GOOD)])
    store.add_to_set(target, [(time.time() - 1, entry) for entry in dict.fromkeys(bad)])
    launcher = run_burst()
    # an entry whose queue can be read is moved to it and handled like any queued entry; one whose
    # queue cannot be read goes straight to the dead set, wrapped with the reason
    assert_accounted(store, ledger, launcher, len(dict.fromkeys(bad)), ran_ok=-1)
    assert store.set_size("schedule") == 0


def test_deeply_nested_arguments_end_in_the_dead_set_not_in_a_crash(store: Store, ledger: Ledger) -> None:
    depth = 10_000
    nested = '{"class":"reliability.mark","queue":"default","args":[' + "[" * depth + "]" * depth + "]}"
    launcher = run_around(store, [nested])
    assert_accounted(store, ledger, launcher, 1)
    [entry] = entries_with_errors(store, "dead")
    assert "nested" in entry["error_message"] and entry["args"] == [nested]


def test_nested_arguments_in_the_schedule_set_end_in_the_dead_set(store: Store, ledger: Ledger) -> None:
    depth = 10_000
    nested = '{"class":"reliability.mark","queue":"default","args":[' + "[" * depth + "]" * depth + "]}"
    sidequest.enqueue_bulk("reliability.mark", [[f"good-{n}"] for n in range(2 * GOOD)])
    store.add_to_set("schedule", [(time.time() - 1, nested)])
    launcher = run_burst()
    # too deep to read its queue (Lua's cjson stops at 1000 levels, Python at its recursion limit)
    assert_accounted(store, ledger, launcher, 1)
    [entry] = entries_with_errors(store, "dead")
    assert entry["args"] == [nested] and "nested too deeply" in entry["error_message"]


def test_a_ten_megabyte_argument_runs_and_an_unknown_class_goes_to_the_retry_set(
    store: Store, ledger: Ledger
) -> None:
    big = "x" * (10 * 1024 * 1024)
    bad = [
        good_payload("huge", args=["huge", big], **{"class": "reliability.blob"}),
        good_payload("unknown", **{"class": "no.such.Job"}),
    ]
    big_unknown = good_payload("big-unknown", args=[big], **{"class": "no.such.Job"})
    launcher = run_around(store, [*bad, big_unknown])
    assert_accounted(store, ledger, launcher, 3, ran_ok=1)
    messages = sorted(entry["error_message"] for entry in entries_with_errors(store, "retry"))
    assert [m.split(". A job runs")[0].split(";")[0] for m in messages] == [
        "unknown job class no.such.Job"
    ] * 2
