"""The SQLite store behaves exactly like the memory store (the reference) under any sequence of calls.

Hypothesis drives both stores with the same random operations and compares every answer, which
covers orderings (requeue to the front, in-progress order, range windows with negative indexes) that
hand-written cases miss.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sidequest.stores.base import Beat, Store, Work
from sidequest.stores.memory import MemoryStore
from sidequest.stores.sqlite import SQLiteStore

QUEUES = ["default", "low", "critical"]
IDENTITIES = ["host:1:aaa", "host:2:bbb"]
SETS = ["schedule", "retry", "dead"]

queues = st.sampled_from(QUEUES)
identities = st.sampled_from(IDENTITIES)
set_names = st.sampled_from(SETS)
scores = st.sampled_from([1.0, 2.5, 2.5, 7.0, 100.0])
indexes = st.integers(min_value=-6, max_value=6)


def job(queue: str, number: int) -> str:
    return json.dumps({"queue": queue, "class": "Job", "args": [number]}, separators=(",", ":"))


payloads = st.builds(job, queues, st.integers(min_value=0, max_value=5)) | st.sampled_from(["not json", "{}"])


class SameAnswers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.memory: Store = MemoryStore()
        self.sqlite: Store = SQLiteStore(f"sqlite:///{Path(self.tmp.name) / 'same.db'}")

    def both(self, method: str, *args: Any, **kwargs: Any) -> Any:
        expected = getattr(self.memory, method)(*args, **kwargs)
        actual = getattr(self.sqlite, method)(*args, **kwargs)
        assert actual == expected, f"{method}{args}: sqlite {actual!r} != memory {expected!r}"
        return expected

    @initialize()
    def start_processes(self) -> None:
        for identity in IDENTITIES:
            beat = Beat(identity, "{}", 0, time.time(), False, 1000, 10, 5, {}, ttl=600)
            self.both("beat", beat)

    @rule(items=st.lists(st.tuples(queues, payloads), max_size=4))
    def push(self, items: list[tuple[str, str]]) -> None:
        self.both("push", items)

    @rule(
        identity=identities, order=st.permutations(QUEUES), count=st.integers(1, 3), limit=st.integers(1, 4)
    )
    def fetch(self, identity: str, order: list[str], count: int, limit: int) -> None:
        self.both("fetch", identity, order[:count], limit)

    @rule(identity=identities, data=st.data())
    def ack(self, identity: str, data: st.DataObject) -> None:
        held = self.memory.in_progress(identity)
        extra = data.draw(st.lists(st.builds(Work, queues, payloads), max_size=1))
        chosen = data.draw(st.lists(st.sampled_from(held), max_size=3)) if held else []
        self.both("ack", identity, chosen + extra)

    @rule(identity=identities, data=st.data())
    def requeue(self, identity: str, data: st.DataObject) -> None:
        held = self.memory.in_progress(identity)
        chosen = data.draw(st.lists(st.sampled_from(held), max_size=3)) if held else []
        self.both("requeue", identity, chosen)

    @rule(identity=identities)
    def die_and_recover(self, identity: str) -> None:
        # A beat with a TTL already over makes the process dead for both stores.
        self.both("beat", Beat(identity, "{}", 0, time.time(), False, 1, 1, 5, {}, ttl=-1))
        # Which jobs come back must agree; the stores may list them in another order, and count a
        # payload held twice per row (SQLite) or per payload (memory), so no job is buried here.
        expected = self.memory.recover(max_recoveries=10**6)
        actual = self.sqlite.recover(max_recoveries=10**6)
        assert sorted((r.owner, r.work.queue, r.work.payload, r.buried) for r in actual) == sorted(
            (r.owner, r.work.queue, r.work.payload, r.buried) for r in expected
        )
        self.both("beat", Beat(identity, "{}", 0, time.time(), False, 1, 1, 5, {}, ttl=600))

    @rule(queue=queues, start=indexes, stop=indexes)
    def queue_range(self, queue: str, start: int, stop: int) -> None:
        self.both("queue_range", queue, start, stop)

    @rule(queue=queues, payload=payloads)
    def queue_remove(self, queue: str, payload: str) -> None:
        self.both("queue_remove", queue, payload)

    @rule(queue=queues)
    def queue_clear(self, queue: str) -> None:
        self.both("queue_clear", queue)

    @rule(name=set_names, items=st.lists(st.tuples(scores, payloads), max_size=3))
    def add_to_set(self, name: str, items: list[tuple[float, str]]) -> None:
        self.both("add_to_set", name, items)

    # Only the sets a poller promotes from: promoting "dead" would re-add unreadable entries to itself.
    @rule(name=st.sampled_from(["schedule", "retry"]), now=scores, limit=st.integers(1, 3))
    def promote_due(self, name: str, now: float, limit: int) -> None:
        self.both("promote_due", name, now, limit)

    @rule(payload=payloads, now=scores, max_jobs=st.integers(0, 4), max_age=st.sampled_from([1.0, 50.0, 1e9]))
    def kill(self, payload: str, now: float, max_jobs: int, max_age: float) -> None:
        self.both("kill", payload, now, max_jobs, max_age)

    @rule(name=set_names, start=indexes, stop=indexes, reverse=st.booleans())
    def set_range(self, name: str, start: int, stop: int, reverse: bool) -> None:
        self.both("set_range", name, start, stop, reverse=reverse)

    @rule(name=set_names, score=scores)
    def set_by_score(self, name: str, score: float) -> None:
        self.both("set_by_score", name, score)

    @rule(name=set_names, removed=st.lists(payloads, max_size=3))
    def set_remove(self, name: str, removed: list[str]) -> None:
        self.both("set_remove", name, removed)

    @rule(name=set_names, substring=st.sampled_from(["low", "1", "json", '"args"']))
    def set_scan(self, name: str, substring: str) -> None:
        self.both("set_scan", name, substring)

    @rule(processed=st.integers(0, 3), failed=st.integers(0, 3))
    def add_counts(self, processed: int, failed: int) -> None:
        self.both("add_counts", processed, failed, 1_800_000_000.0)

    @invariant()
    def same_state(self) -> None:
        for queue in QUEUES:
            self.both("queue_size", queue)
            self.both("queue_oldest", queue)
        self.both("queue_names")
        for identity in IDENTITIES:
            self.both("in_progress", identity)
        for name in SETS:
            self.both("set_size", name)
        self.both("next_due", SETS)
        self.both("counters")
        self.both("history", 2, 1_800_000_000.0)

    def teardown(self) -> None:
        self.sqlite.close()
        self.tmp.cleanup()


SameAnswers.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_sqlite_answers_like_memory = SameAnswers.TestCase
