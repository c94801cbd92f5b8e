"""The store contract, once, for every store (memory, sqlite, redis through the `store` fixture).

Each test is what a user of the store would notice: which jobs come out, in what order, where a
job goes when a process dies, what an operator sees. Waits are on conditions with deadlines.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from sidequest.payload import build, dumps, stamp_enqueued_at
from sidequest.stores import Store, open_store
from sidequest.stores.base import INVALID_PAYLOAD_TEMPLATE, JobCounts, Work, minute_of
from tests.support.beats import beat_for
from tests.support.waiting import wait_for

NOW = 1_795_827_751.8577726


def job(n: int | str, queue: str = "default", **extra: Any) -> str:
    """A payload as our client writes it (Sidekiq's key order, compact JSON, float seconds)."""
    enqueued_at = extra.pop("enqueued_at", None)
    payload = build("HardJob", [n], {"queue": queue, **extra}, created_at=NOW)
    payload["jid"] = f"{str(n):0>24}"[-24:]
    if enqueued_at is not None:
        payload["enqueued_at"] = enqueued_at  # where the client puts it: after created_at
    return dumps(payload)


def inside_fetch(thread: threading.Thread) -> bool:
    """Whether thread is inside a store's fetch (where it waits for a job), from its live stack."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "fetch" and frame.f_globals.get("__name__", "").startswith(
            "sidequest.stores"
        ):
            return True
        frame = frame.f_back
    return False


@pytest.fixture
def handles(store: Store, store_url: str) -> Iterator[Callable[[], Store]]:
    """Open more handles on the store's data, one per thread (the same object for the memory store)."""
    opened: list[Store] = []

    def open_handle() -> Store:
        if store_url.startswith("memory"):
            return store
        handle = open_store(store_url)
        opened.append(handle)
        return handle

    yield open_handle
    for handle in opened:
        handle.close()


def run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [t for t in threads if t.is_alive()], "a thread did not finish within 60 s"
    if errors:
        raise errors[0]


# ---- queues ------------------------------------------------------------------------------------


def test_pushed_jobs_come_out_oldest_first_and_their_queues_are_known(store: Store) -> None:
    store.push([("default", job(1)), ("default", job(2)), ("critical", job(3, "critical"))])
    store.push([("default", job(4))])

    assert store.queue_names() == ["critical", "default"]
    assert store.queue_size("default") == 3
    taken = store.fetch("box:1:aaa", ["default"], 10)
    assert [w.payload for w in taken] == [job(1), job(2), job(4)]
    assert all(w.queue == "default" for w in taken)


def test_a_bulk_push_keeps_the_callers_order_across_queues(store: Store) -> None:
    items = [("bulk", job(i, "bulk")) if i % 3 else ("other", job(i, "other")) for i in range(60)]

    store.push(items)

    taken = store.fetch("box:1:aaa", ["bulk", "other"], 100)
    assert [w.payload for w in taken if w.queue == "bulk"] == [p for q, p in items if q == "bulk"]
    assert [w.payload for w in taken if w.queue == "other"] == [p for q, p in items if q == "other"]


def test_queue_listing_is_newest_first_and_oldest_is_next_out(store: Store) -> None:
    store.push([("default", job(i)) for i in range(5)])

    assert store.queue_range("default", 0, -1) == [job(i) for i in (4, 3, 2, 1, 0)]
    assert store.queue_range("default", 1, 2) == [job(3), job(2)]
    assert store.queue_oldest("default") == job(0)
    assert store.queue_oldest("nothing-here") is None
    assert store.queue_range("nothing-here", 0, -1) == []
    assert store.queue_size("nothing-here") == 0


def test_removing_one_job_from_a_queue(store: Store) -> None:
    store.push([("default", job(1)), ("default", job(2))])

    assert store.queue_remove("default", job(1)) == 1
    assert store.queue_remove("default", job(1)) == 0
    assert store.queue_range("default", 0, -1) == [job(2)]


def test_clearing_a_queue_drops_its_jobs_and_its_name(store: Store) -> None:
    store.push([("default", job(1)), ("low", job(2, "low"))])

    store.queue_clear("default")

    assert store.queue_names() == ["low"]
    assert store.queue_size("default") == 0
    assert store.fetch("box:1:aaa", ["default"], 1) == []


# ---- fetch -------------------------------------------------------------------------------------


def test_fetch_drains_queues_in_the_order_given(store: Store) -> None:
    store.push([("low", job("l1", "low")), ("high", job("h1", "high")), ("low", job("l2", "low"))])
    store.push([("high", job("h2", "high"))])

    taken = store.fetch("box:1:aaa", ["high", "low"], 3)

    assert [(w.queue, w.payload) for w in taken] == [
        ("high", job("h1", "high")),
        ("high", job("h2", "high")),
        ("low", job("l1", "low")),
    ]
    assert store.fetch("box:1:aaa", ["low", "high"], 3) == [Work("low", job("l2", "low"))]


def test_fetch_takes_at_most_limit_jobs(store: Store) -> None:
    store.push([("default", job(i)) for i in range(5)])

    taken = store.fetch("box:1:aaa", ["default"], 2)

    assert [w.payload for w in taken] == [job(0), job(1)]
    assert store.queue_size("default") == 3


def test_fetch_with_nothing_queued_waits_then_returns_nothing(store: Store) -> None:
    started = time.monotonic()

    assert store.fetch("box:1:aaa", ["default"], 5, timeout=0.3) == []
    assert store.fetch("box:1:aaa", ["a", "b", "c"], 5, timeout=0.3) == []
    assert time.monotonic() - started < 10
    assert store.fetch("box:1:aaa", ["default"], 5) == []


def test_a_begun_fetch_holds_its_jobs_before_its_reply_is_read(store: Store, second_store: Store) -> None:
    # the worker runs a job while its next fetch is under way; a process that dies with the reply
    # unread must leave those jobs where recovery finds them
    store.push([("high", job("h1", "high")), ("low", job("l1", "low")), ("low", job("l2", "low"))])
    assert store.fetch("box:1:aaa", ["empty"], 1) == []  # a first fetch (Redis loads its script)

    under_way = store.fetch_begin("box:1:aaa", ["high", "low"], 2)

    wait_for(lambda: second_store.queue_size("low") == 1, what="the begun fetch to run")
    assert sorted(second_store.in_progress("box:1:aaa"), key=str) == sorted(
        [Work("high", job("h1", "high")), Work("low", job("l1", "low"))], key=str
    )
    wait_for(under_way.arrived, what="the reply")
    assert under_way.result() == [Work("high", job("h1", "high")), Work("low", job("l1", "low"))]
    # the connection is free for the next call
    assert store.fetch("box:1:aaa", ["low"], 5) == [Work("low", job("l2", "low"))]


def test_a_begun_fetch_of_an_empty_or_paused_queue_brings_nothing(store: Store) -> None:
    store.push([("paused", job(1, "paused"))])
    store.pause_queue("paused")

    assert store.fetch_begin("box:1:aaa", ["default", "paused"], 5).result() == []
    assert store.in_progress("box:1:aaa") == []
    assert store.queue_size("paused") == 1


@pytest.mark.parametrize("queues", [["default"], ["high", "default", "low"]])
def test_a_waiting_fetch_wakes_up_when_a_job_is_pushed(
    store: Store, second_store: Store, queues: list[str]
) -> None:
    def push_once_waiting() -> None:
        wait_for(lambda: inside_fetch(fetcher), what="the fetch to be waiting")
        second_store.push([("default", job(1))])

    fetcher = threading.current_thread()
    pusher = threading.Thread(target=push_once_waiting)
    started = time.monotonic()
    pusher.start()
    taken = store.fetch("box:1:aaa", queues, 5, timeout=20)
    waited = time.monotonic() - started
    pusher.join()

    assert taken == [Work("default", job(1))]
    assert waited < 10, f"fetch returned {waited:.1f}s after the push instead of promptly"
    assert store.in_progress("box:1:aaa") == taken


def test_a_waiting_fetch_that_wakes_up_takes_up_to_its_limit(store: Store, second_store: Store) -> None:
    def push_once_waiting() -> None:
        wait_for(lambda: inside_fetch(fetcher), what="the fetch to be waiting")
        second_store.push([("default", job(i)) for i in range(3)])

    fetcher = threading.current_thread()
    pusher = threading.Thread(target=push_once_waiting)
    pusher.start()
    taken = store.fetch("box:1:aaa", ["default"], 5, timeout=20)
    pusher.join()

    assert [w.payload for w in taken] == [job(0), job(1), job(2)]


def test_concurrent_fetchers_never_get_the_same_job(store: Store, handles: Callable[[], Store]) -> None:
    jobs = [job(i) for i in range(400)]
    store.push([("default", p) for p in jobs])
    fetched: list[list[Work]] = [[] for _ in range(4)]

    def fetch_all(index: int) -> None:
        mine = handles()
        while taken := mine.fetch(f"box:{index}:aaa", ["default"], 7):
            fetched[index].extend(taken)

    run_threads(4, fetch_all)

    payloads = [w.payload for taken in fetched for w in taken]
    assert sorted(payloads) == sorted(jobs)
    assert not [p for p, n in Counter(payloads).items() if n > 1]


def test_concurrent_waiting_fetchers_share_jobs_pushed_while_they_wait(
    store: Store, handles: Callable[[], Store]
) -> None:
    jobs = [job(i) for i in range(60)]
    fetched: list[list[Work]] = [[] for _ in range(3)]
    done = threading.Event()

    def fetch_until_done(index: int) -> None:
        mine = handles()
        while not done.is_set():
            fetched[index].extend(mine.fetch(f"box:{index}:aaa", ["default", "other"], 2, timeout=0.5))

    threads = [threading.Thread(target=fetch_until_done, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        for p in jobs:
            store.push([("default", p)])
        wait_for(lambda: sum(len(f) for f in fetched) >= len(jobs), what="all jobs fetched")
    finally:
        done.set()
        for thread in threads:
            thread.join(30)

    payloads = [w.payload for taken in fetched for w in taken]
    assert sorted(payloads) == sorted(jobs)


# ---- in progress, ack, requeue ------------------------------------------------------------------


def test_fetched_jobs_stay_in_progress_until_acknowledged(store: Store) -> None:
    store.push([("default", job(1)), ("low", job(2, "low"))])
    taken = store.fetch("box:1:aaa", ["default", "low"], 5)

    assert sorted(store.in_progress("box:1:aaa"), key=str) == sorted(taken, key=str)
    assert store.in_progress("box:2:bbb") == []

    assert store.ack("box:1:aaa", taken) == 2
    assert store.in_progress("box:1:aaa") == []
    assert store.ack("box:1:aaa", taken) == 0
    assert store.queue_size("default") == 0


def test_a_fetch_of_thousands_keeps_every_job_in_progress_in_order(store: Store) -> None:
    # a store may move a large fetch into the in-progress list in chunks; none may be dropped or reordered
    jobs = [job(n) for n in range(2_500)]
    store.push([("default", payload) for payload in jobs])
    taken = store.fetch("box:1:aaa", ["default"], 2_500)

    assert [work.payload for work in taken] == jobs
    assert sorted(work.payload for work in store.in_progress("box:1:aaa")) == sorted(jobs)
    store.requeue("box:1:aaa", taken)
    assert store.in_progress("box:1:aaa") == []
    assert sorted(work.payload for work in store.fetch("box:1:aaa", ["default"], 2_500)) == sorted(jobs)


def test_acknowledging_one_of_two_equal_jobs_leaves_the_other(store: Store) -> None:
    store.push([("default", job(1)), ("default", job(1))])
    first, second = store.fetch("box:1:aaa", ["default"], 2)

    assert store.ack("box:1:aaa", [first]) == 1
    assert store.in_progress("box:1:aaa") == [second]


def test_a_payload_with_a_nul_character_can_be_acknowledged(store: Store) -> None:
    # malformed entries are buried and then acked like any job; a NUL must not keep one in progress
    store.push([("default", "\x00"), ("default", 'bad\x00{"x"'), ("default", job(1))])
    taken = store.fetch("box:1:aaa", ["default"], 3)

    assert store.ack("box:1:aaa", taken) == 3
    assert store.in_progress("box:1:aaa") == []


def test_a_requeued_job_is_the_next_one_out(store: Store) -> None:
    store.push([("default", job(1)), ("default", job(2))])
    [first] = store.fetch("box:1:aaa", ["default"], 1)

    store.requeue("box:1:aaa", [first])

    assert store.in_progress("box:1:aaa") == []
    assert store.fetch("box:1:aaa", ["default"], 1) == [first]
    assert store.queue_names() == ["default"]


def test_requeue_skips_a_job_that_is_no_longer_held(store: Store) -> None:
    store.push([("default", job(1))])
    taken = store.fetch("box:1:aaa", ["default"], 1)
    store.ack("box:1:aaa", taken)

    store.requeue("box:1:aaa", taken)

    assert store.queue_size("default") == 0


# ---- recovery ----------------------------------------------------------------------------------


def test_jobs_of_a_process_whose_heartbeat_expired_go_back_to_their_queues(store: Store) -> None:
    store.beat(beat_for("box:1:dead", ttl=0.3))
    store.push([("default", job(1)), ("default", job(2)), ("low", job(3, "low"))])
    held = store.fetch("box:1:dead", ["default", "low"], 10)
    assert len(held) == 3

    wait_for(lambda: not store.processes(), what="heartbeat expiry")
    recovered = store.recover()

    assert len(recovered) == 3
    assert store.in_progress("box:1:dead") == []
    store.beat(beat_for("box:2:live"))
    back = store.fetch("box:2:live", ["default", "low"], 10)
    assert sorted(w.payload for w in back) == sorted(w.payload for w in held)
    assert len(store.recover()) == 0
    assert store.ack("box:1:dead", held) == 0  # the late owner learns its jobs were taken back


def test_recovery_never_touches_a_live_process(store: Store) -> None:
    store.beat(beat_for("box:1:live"))
    store.beat(beat_for("box:2:dead", ttl=0.3))
    store.push([("default", job(i)) for i in range(4)])
    live = store.fetch("box:1:live", ["default"], 2)
    dead = store.fetch("box:2:dead", ["default"], 2)

    wait_for(lambda: [p.identity for p in store.processes()] == ["box:1:live"], what="heartbeat expiry")
    recovered = store.recover()

    assert len(recovered) == 2
    assert store.in_progress("box:1:live") == live
    assert sorted(store.queue_range("default", 0, -1)) == sorted(w.payload for w in dead)
    assert store.queue_names() == ["default"]


def test_concurrent_recoveries_move_each_job_once(store: Store, handles: Callable[[], Store]) -> None:
    store.beat(beat_for("box:1:dead", ttl=0.3))
    store.push([("default", job(i)) for i in range(30)])
    store.fetch("box:1:dead", ["default"], 30)
    wait_for(lambda: not store.processes(), what="heartbeat expiry")
    totals = [0] * 4

    def recover(index: int) -> None:
        totals[index] = len(handles().recover())

    run_threads(4, recover)

    assert sum(totals) == 30
    assert store.queue_size("default") == 30


def crash_holding(store: Store, identity: str, limit: int = 1) -> list[Work]:
    """A process that fetches, then dies: its heartbeat is already over when it fetches."""
    store.beat(beat_for(identity, ttl=-1))
    held = store.fetch(identity, ["default"], limit)
    wait_for(lambda: identity not in [p.identity for p in store.processes()], what="heartbeat expiry")
    return held


def test_a_job_whose_process_dies_under_it_three_times_goes_to_the_dead_set(store: Store) -> None:
    # given a job that kills every process that runs it, queued before an ordinary one
    pill, fine = job("pill"), job("fine")
    store.push([("default", pill), ("default", fine)])
    # when three processes in turn fetch it and die, each recovered by a survivor
    seen = []
    for n in range(1, 4):
        assert crash_holding(store, f"box:{n}:dead") == [Work("default", pill)]
        seen += [(r.owner, r.work.payload, r.recoveries, r.buried) for r in store.recover(max_recoveries=3)]
    # then it went back to its queue twice, and the third time to the dead set instead
    assert seen == [
        ("box:1:dead", pill, 1, False),
        ("box:2:dead", pill, 2, False),
        ("box:3:dead", pill, 3, True),
    ]
    assert store.queue_range("default", 0, -1) == [fine]
    [(_, raw)] = store.set_range("dead", 0, -1)
    entry = json.loads(raw)
    assert entry["error_class"] == "ProcessCrashed"
    assert "died 3 times" in entry["error_message"]
    assert isinstance(entry["failed_at"], float)
    unchanged = {k: v for k, v in entry.items() if k not in ("error_class", "error_message", "failed_at")}
    assert unchanged == json.loads(pill)
    assert store.recover() == []


def test_jobs_held_beside_a_poison_pill_count_their_own_recoveries(store: Store) -> None:
    # given a job recovered twice, then fetched together with a job never recovered before
    store.push([("default", job("pill"))])
    for n in range(1, 3):
        crash_holding(store, f"box:{n}:dead")
        store.recover(max_recoveries=3)
    store.push([("default", job("neighbour"))])
    # when their process dies too
    assert len(crash_holding(store, "box:3:dead", limit=2)) == 2
    recovered = {r.work.payload: (r.recoveries, r.buried) for r in store.recover(max_recoveries=3)}
    # then only the pill is buried; the other goes back to its queue
    assert recovered == {job("pill"): (3, True), job("neighbour"): (1, False)}
    assert store.queue_range("default", 0, -1) == [job("neighbour")]


def test_a_poison_pill_with_dead_false_is_dropped(store: Store) -> None:
    store.push([("default", job("pill", dead=False))])
    crash_holding(store, "box:1:dead")
    [recovered] = store.recover(max_recoveries=1)
    assert recovered.buried and recovered.recoveries == 1
    assert store.queue_size("default") == 0 and store.set_size("dead") == 0


def test_a_malformed_poison_pill_is_kept_byte_for_byte_in_the_dead_set(store: Store) -> None:
    store.push([("default", "not json {")])
    crash_holding(store, "box:1:dead")
    [recovered] = store.recover(max_recoveries=1)
    assert recovered.buried and recovered.work == Work("default", "not json {")
    [(_, raw)] = store.set_range("dead", 0, -1)
    entry = json.loads(raw)
    assert entry["args"] == ["not json {"] and entry["error_class"] == "ProcessCrashed"
    assert sorted(entry) == sorted(json.loads(INVALID_PAYLOAD_TEMPLATE))  # the one wrapper shape


# ---- scheduled and retry sets ------------------------------------------------------------------


def test_promote_moves_only_due_entries_and_stamps_enqueued_at(store: Store) -> None:
    scheduled = job("s1", "low")
    retrying = job("r1", "default", enqueued_at=1795827751.25, retry_count=0)
    store.add_to_set("schedule", [(100.0, scheduled), (300.0, job("later"))])
    store.add_to_set("retry", [(150.5, retrying)])

    moved = store.promote_due("schedule", 200.125) + store.promote_due("retry", 200.125)

    assert moved == 2
    assert store.queue_range("low", 0, -1) == [scheduled[:-1] + ',"enqueued_at":200.125}']
    assert store.queue_range("default", 0, -1) == [
        retrying.replace('"enqueued_at":1795827751.25', '"enqueued_at":200.125')
    ]
    assert store.set_range("schedule", 0, -1) == [(300.0, job("later"))]
    assert store.set_size("retry") == 0
    assert store.queue_names() == ["default", "low"]


def test_promoted_jobs_go_to_the_end_of_their_queue(store: Store) -> None:
    store.push([("default", job("waiting"))])
    store.add_to_set("schedule", [(1.0, job("due"))])

    store.promote_due("schedule", 2.0)

    assert [w.payload for w in store.fetch("box:1:aaa", ["default"], 5)] == [
        job("waiting"),
        stamp_enqueued_at(job("due"), 2.0),
    ]


def test_promote_honours_its_limit(store: Store) -> None:
    store.add_to_set("schedule", [(float(i), job(i)) for i in range(10)])

    assert store.promote_due("schedule", 100.0, limit=4) == 4
    assert store.set_size("schedule") == 6
    assert store.queue_range("default", 0, -1)[-1] == stamp_enqueued_at(job(0), 100.0)


@pytest.mark.parametrize(
    "raw",
    [
        '{"retry":true,"queue":"default","args":[1],"class":"A","jid":"j1","created_at":1795827751.8577726}',
        '{"queue":"default","class":"A","args":[],"enqueued_at":1795827751.8578718,"retry_count":2}',
        '{"queue":"default","class":"A","args":[],"enqueued_at":1.7e9}',
        '{"queue":"default","class":"A","args":[],"enqueued_at":-5}',
        '{"queue":"default","class":"A","args":["caf\u00e9 \u2603 \\"q\\" 100%"]}',
        '{"queue":"default","class":"A","args":[{"k":[1,2]}]}  \n',
        '{ "queue" : "default", "class" : "A", "args" : [] }',
        '{"queue":"default"}',
        '{"queue":"default","class":"A","args":[],"enqueued_at":1795827751876}',
    ],
)
def test_promote_stamps_exactly_like_payload_stamp_enqueued_at(store: Store, raw: str) -> None:
    when = 1795829999.1234567
    store.add_to_set("retry", [(1.0, raw)])

    store.promote_due("retry", when)

    assert store.queue_range("default", 0, -1) == [stamp_enqueued_at(raw, when)]


@pytest.mark.parametrize(
    "raw", ["not json {", '["queue","default"]', '{"class":"A","args":[]}', '{"queue":""}', '"x"']
)
def test_entries_whose_queue_cannot_be_read_go_to_dead(store: Store, raw: str) -> None:
    store.add_to_set("schedule", [(10.0, raw)])

    assert store.promote_due("schedule", 20.5) == 1

    assert store.set_size("schedule") == 0
    [(score, entry)] = store.set_range("dead", 0, -1)
    wrapped = json.loads(entry)
    assert (score, wrapped["class"], wrapped["args"]) == (20.5, "sidequest.InvalidPayload", [raw])
    assert 'this schedule entry has no readable "queue"' in wrapped["error_message"]
    assert sorted(wrapped) == sorted(json.loads(INVALID_PAYLOAD_TEMPLATE))  # the one wrapper shape
    assert store.queue_names() == []


def test_concurrent_promoters_never_move_an_entry_twice(store: Store, handles: Callable[[], Store]) -> None:
    entries = [job(i) for i in range(300)]
    store.add_to_set("schedule", [(float(i), p) for i, p in enumerate(entries)])
    moved = [0] * 4

    def promote(index: int) -> None:
        mine = handles()
        while count := mine.promote_due("schedule", 1000.0, limit=7):
            moved[index] += count

    run_threads(4, promote)

    assert sum(moved) == 300
    queued = store.queue_range("default", 0, -1)
    assert sorted(queued) == sorted(stamp_enqueued_at(p, 1000.0) for p in entries)


def test_next_due_is_the_earliest_score_across_the_sets(store: Store) -> None:
    assert store.next_due(["schedule", "retry"]) is None

    store.add_to_set("schedule", [(500.5, job(1)), (900.0, job(2))])
    store.add_to_set("retry", [(300.25, job(3))])
    store.add_to_set("dead", [(1.0, job(4))])

    assert store.next_due(["schedule", "retry"]) == 300.25
    assert store.next_due(["schedule"]) == 500.5


def test_schedule_adds_to_the_schedule_set(store: Store) -> None:
    store.schedule([(NOW + 3600, job(1, "low"))])

    assert store.set_range("schedule", 0, -1) == [(NOW + 3600, job(1, "low"))]
    assert store.queue_names() == []


# ---- dead set ----------------------------------------------------------------------------------


def test_kill_keeps_at_most_max_jobs_minus_one_newest(store: Store) -> None:
    for i in range(6):
        store.kill(job(i), NOW + i, max_jobs=4, max_age=86400)

    assert [p for _, p in store.set_range("dead", 0, -1)] == [job(3), job(4), job(5)]


def test_kill_drops_entries_older_than_max_age(store: Store) -> None:
    store.kill(job("old"), NOW - 1000, max_jobs=100, max_age=500)
    store.kill(job("recent"), NOW - 100, max_jobs=100, max_age=500)

    store.kill(job("new"), NOW, max_jobs=100, max_age=500)

    assert store.set_range("dead", 0, -1) == [(NOW - 100, job("recent")), (NOW, job("new"))]


def test_kill_trims_the_dead_set_as_it_is_after_re_adds_removals_clears_and_repeats(store: Store) -> None:
    # given a dead set changed every other way: an entry re-added at a new score, one removed
    store.add_to_set("dead", [(NOW + 1, job(1)), (NOW + 2, job(2)), (NOW + 3, job(3))])
    store.add_to_set("dead", [(NOW + 4, job(1))])
    store.set_remove("dead", [job(2)])
    # when jobs die with room for three entries
    store.kill(job(5), NOW + 5, max_jobs=4, max_age=86400)
    # then nothing was trimmed while the set had room, and the oldest goes once it is over
    assert [p for _, p in store.set_range("dead", 0, -1)] == [job(3), job(1), job(5)]
    store.kill(job(6), NOW + 6, max_jobs=4, max_age=86400)
    assert [p for _, p in store.set_range("dead", 0, -1)] == [job(1), job(5), job(6)]
    # and after a clear the set fills up again from empty
    store.set_clear("dead")
    for n in (7, 8, 9):
        store.kill(job(n), NOW + n, max_jobs=4, max_age=86400)
    assert [p for _, p in store.set_range("dead", 0, -1)] == [job(7), job(8), job(9)]
    # and a job that dies again moves to its new time without taking a second place
    store.kill(job(8), NOW + 10, max_jobs=4, max_age=86400)
    assert [p for _, p in store.set_range("dead", 0, -1)] == [job(7), job(9), job(8)]
    store.kill(job(11), NOW + 11, max_jobs=4, max_age=86400)
    assert [p for _, p in store.set_range("dead", 0, -1)] == [job(9), job(8), job(11)]


# ---- listing sorted sets -----------------------------------------------------------------------


def test_sorted_set_listing_by_rank_score_and_substring(store: Store) -> None:
    entries = [(NOW + i, job(f"jid{i}")) for i in range(5)]
    store.add_to_set("retry", entries)

    assert store.set_size("retry") == 5
    assert store.set_range("retry", 0, -1) == entries
    assert store.set_range("retry", 0, 1, reverse=True) == [entries[4], entries[3]]
    assert store.set_range("retry", 1, 2) == entries[1:3]
    assert store.set_by_score("retry", NOW + 2) == [entries[2][1]]
    assert store.set_by_score("retry", NOW + 2.5) == []
    assert store.set_scan("retry", "jid3") == [entries[3]]
    assert sorted(store.set_scan("retry", "HardJob")) == entries
    assert len(store.set_scan("retry", "HardJob", limit=2)) == 2


def test_set_scan_matches_glob_characters_literally(store: Store) -> None:
    store.add_to_set("dead", [(1.0, job("a*b?c[1]")), (2.0, job("aXbYc1"))])

    assert store.set_scan("dead", "a*b?c[1]") == [(1.0, job("a*b?c[1]"))]


def test_adding_an_equal_payload_again_moves_it_to_the_new_score(store: Store) -> None:
    store.add_to_set("schedule", [(10.0, job(1))])

    store.add_to_set("schedule", [(20.0, job(1))])

    assert store.set_range("schedule", 0, -1) == [(20.0, job(1))]


def test_removing_and_clearing_sorted_set_entries(store: Store) -> None:
    store.add_to_set("dead", [(1.0, job(1)), (2.0, job(2)), (3.0, job(3))])

    assert store.set_remove("dead", [job(1), job(3), job("absent")]) == 2
    assert store.set_range("dead", 0, -1) == [(2.0, job(2))]
    assert store.set_remove("dead", []) == 0

    store.set_clear("dead")
    assert store.set_size("dead") == 0


# ---- processes ---------------------------------------------------------------------------------


def test_a_beating_process_is_listed_with_its_record(store: Store) -> None:
    first = store.beat(beat_for("box:1:aaa", busy=2, quiet=True, rss_kb=1234, rtt_us=77, concurrency=9))
    again = store.beat(beat_for("box:1:aaa", busy=2, quiet=True, rss_kb=1234, rtt_us=77, concurrency=9))

    assert (first.existed, again.existed) == (False, True)
    [record] = store.processes()
    assert record.identity == "box:1:aaa"
    assert record.info["hostname"] == "box" and record.info["queues"] == ["default"]
    assert (record.busy, record.quiet, record.rss_kb, record.rtt_us) == (2, True, 1234, 77)
    assert record.concurrency in (5, 9)  # the info value, or the 8.1.2+ hash field where a store writes it
    assert abs(record.beat - time.time()) < 60


def test_processes_are_sorted_by_identity(store: Store) -> None:
    for identity in ("host-b:2:bbb", "host-a:1:aaa", "host-c:3:ccc"):
        store.beat(beat_for(identity))

    assert [p.identity for p in store.processes()] == ["host-a:1:aaa", "host-b:2:bbb", "host-c:3:ccc"]


def test_running_jobs_are_visible_until_replaced_or_the_process_stops(store: Store) -> None:
    running = dumps({"queue": "default", "payload": job(1), "run_at": 1795827758})
    store.beat(beat_for("box:1:aaa", busy=1, work={"4ob": running}))
    store.beat(beat_for("box:2:bbb"))

    assert store.work() == [("box:1:aaa", "4ob", running)]

    store.beat(beat_for("box:1:aaa", busy=0, work={}))
    assert store.work() == []

    store.beat(beat_for("box:1:aaa", busy=1, work={"4ob": running}))
    store.remove_process("box:1:aaa")
    assert store.work() == []
    assert [p.identity for p in store.processes()] == ["box:2:bbb"]


def test_a_process_disappears_when_its_heartbeat_expires(store: Store) -> None:
    running = dumps({"queue": "default", "payload": job(1), "run_at": 1795827758})
    store.beat(beat_for("box:1:aaa", ttl=0.5, busy=1, work={"tid": running}))
    assert [p.identity for p in store.processes()] == ["box:1:aaa"]

    wait_for(lambda: not store.processes(), what="heartbeat expiry")

    assert store.work() == []
    assert store.beat(beat_for("box:1:aaa")).existed is False


def test_signals_reach_their_process_one_per_beat_in_order(store: Store) -> None:
    store.beat(beat_for("box:1:aaa"))
    store.signal("box:1:aaa", "TSTP")
    store.signal("box:1:aaa", "TERM")

    assert store.beat(beat_for("box:2:bbb")).signals == []
    assert store.beat(beat_for("box:1:aaa")).signals == ["TSTP"]
    assert store.beat(beat_for("box:1:aaa")).signals == ["TERM"]
    assert store.beat(beat_for("box:1:aaa")).signals == []


# ---- counters ----------------------------------------------------------------------------------


def test_beats_add_their_counts_once(store: Store) -> None:
    store.beat(beat_for("box:1:aaa", processed=3, failed=1, beat=NOW))
    store.beat(beat_for("box:1:aaa", processed=2, failed=0, beat=NOW + 5))
    store.beat(beat_for("box:1:aaa", beat=NOW + 10))

    assert (store.counters().processed, store.counters().failed) == (5, 1)
    assert store.history(1, NOW) == {"2026-11-28": (5, 1)}


def test_daily_history_is_newest_first_with_empty_days(store: Store) -> None:
    day = 86400
    store.add_counts(4, 1, NOW)
    store.add_counts(2, 2, NOW - 2 * day)
    store.add_counts(1, 0, NOW - 10 * day)

    history = store.history(3, NOW)

    assert list(history) == ["2026-11-28", "2026-11-27", "2026-11-26"]
    assert list(history.values()) == [(4, 1), (0, 0), (2, 2)]
    assert (store.counters().processed, store.counters().failed) == (7, 3)


def test_resetting_counters_zeroes_the_totals_and_keeps_history(store: Store) -> None:
    store.add_counts(4, 1, NOW)

    store.reset_counters()

    assert (store.counters().processed, store.counters().failed) == (0, 0)
    assert store.history(1, NOW) == {"2026-11-28": (4, 1)}
    store.add_counts(1, 1, NOW)
    assert (store.counters().processed, store.counters().failed) == (1, 1)


# ---- lifecycle ---------------------------------------------------------------------------------


def test_ping_answers(store: Store) -> None:
    assert 0 <= store.ping() < 5


def test_payload_strings_round_trip_exactly(store: Store) -> None:
    odd = job("x", note='caf\u00e9 \u2603 \U0001f600 \\ " \n tab\t')

    store.push([("default", odd)])
    store.add_to_set("retry", [(1.0, odd)])

    assert store.queue_oldest("default") == odd
    assert json.loads(store.fetch("box:1:aaa", ["default"], 1)[0].payload) == json.loads(odd)
    assert store.set_range("retry", 0, -1) == [(1.0, odd)]


# ---- operator methods (sidequest.api) ------------------------------------------------------------


def test_a_paused_queue_keeps_its_jobs_from_every_fetch_until_resumed(store: Store) -> None:
    store.push([("mailers", job(1, "mailers")), ("default", job(2))])

    store.pause_queue("mailers")
    store.push([("mailers", job(3, "mailers"))])

    assert store.paused_queues() == ["mailers"]
    taken = store.fetch("box:1:aaa", ["mailers", "default"], 10)
    assert [w.payload for w in taken] == [job(2)]
    assert store.fetch("box:1:aaa", ["mailers"], 10, timeout=0.3) == []
    assert store.queue_size("mailers") == 2

    store.resume_queue("mailers")

    assert store.paused_queues() == []
    assert [w.payload for w in store.fetch("box:1:aaa", ["mailers"], 10)] == [
        job(1, "mailers"),
        job(3, "mailers"),
    ]


def test_a_queue_paused_while_a_fetch_waits_on_it_gives_that_fetch_nothing(
    store: Store, store_url: str, handles: Callable[[], Store]
) -> None:
    waiting = handles()
    got: list[list[Work]] = []
    fetcher = threading.Thread(
        target=lambda: got.append(waiting.fetch("box:1:aaa", ["mailers"], 5, timeout=1.0))
    )
    fetcher.start()
    if store_url.startswith("redis"):
        # Redis's blocking move cannot see the paused set: the case this test is about
        observer = redis.Redis.from_url(store_url, decode_responses=True)
        wait_for(
            lambda: any(c.get("cmd") == "blmove" for c in observer.client_list()),
            what="the fetch to block on the queue",
        )
        observer.close()

    store.pause_queue("mailers")
    store.push([("mailers", job(1, "mailers"))])
    fetcher.join(10)

    assert got == [[]]
    assert store.queue_range("mailers", 0, -1) == [job(1, "mailers")]
    assert waiting.in_progress("box:1:aaa") == []


def test_enqueueing_set_entries_moves_each_once_with_enqueued_at(
    store: Store, handles: Callable[[], Store]
) -> None:
    first, second = job(1, "mailers", retry_count=3), job(2)
    store.add_to_set("retry", [(NOW, first), (NOW + 1, second)])
    replacement = job(1, "mailers", retry_count=2)

    moved = store.set_enqueue("retry", [(first, replacement), ("not there", job(9))], NOW + 60)
    again = handles().set_enqueue("retry", [(first, replacement)], NOW + 61)

    assert (moved, again) == (1, 0)
    assert store.set_range("retry", 0, -1) == [(NOW + 1, second)]
    assert store.queue_range("mailers", 0, -1) == [stamp_enqueued_at(replacement, NOW + 60)]
    assert "mailers" in store.queue_names()


def test_enqueued_set_entries_go_to_the_end_of_their_queue(store: Store) -> None:
    store.push([("default", job(1))])
    store.add_to_set("schedule", [(NOW, job(2))])

    store.set_enqueue("schedule", [(job(2), job(2))], NOW)

    assert [json.loads(w.payload)["jid"][-1] for w in store.fetch("box:1:aaa", ["default"], 5)] == ["1", "2"]


def test_concurrent_retries_of_the_same_entries_enqueue_each_once(
    store: Store, handles: Callable[[], Store]
) -> None:
    entries = [job(i) for i in range(40)]
    store.add_to_set("retry", [(NOW + i, p) for i, p in enumerate(entries)])
    moved: list[int] = []

    def retry_all(_: int) -> None:
        moved.append(handles().set_enqueue("retry", [(p, p) for p in entries], NOW))

    run_threads(4, retry_all)

    assert sum(moved) == 40
    assert store.queue_size("default") == 40
    assert store.set_size("retry") == 0


def test_killing_set_entries_moves_them_to_dead_now_and_trims(store: Store) -> None:
    store.add_to_set("dead", [(NOW - 10, job("old"))])
    store.add_to_set("retry", [(NOW + 100, job(1)), (NOW + 200, job(2))])

    moved = store.set_kill("retry", [job(1), job(2), job("gone")], NOW, max_jobs=3, max_age=3600)

    assert moved == 2
    assert store.set_size("retry") == 0
    # max_jobs=3 keeps the 2 newest, as kill does
    assert sorted(store.set_range("dead", 0, -1)) == sorted([(NOW, job(1)), (NOW, job(2))])


def test_jobs_held_by_a_dead_process_are_counted_until_recovered(store: Store) -> None:
    store.push([("default", job(i)) for i in range(5)])
    store.beat(beat_for("box:1:dead", ttl=0.5))
    store.beat(beat_for("box:2:live"))
    store.fetch("box:1:dead", ["default"], 3)
    store.fetch("box:2:live", ["default"], 1)

    assert store.held_by_dead() == (0, [])
    wait_for(lambda: store.held_by_dead()[0] == 3, what="the dead process's record to expire")

    count, held = store.held_by_dead(limit=2)
    assert count == 3
    assert held == [("box:1:dead", Work("default", job(0))), ("box:1:dead", Work("default", job(1)))]
    store.recover()
    assert store.held_by_dead() == (0, [])


def test_job_metrics_add_up_per_class_and_minute(store: Store) -> None:
    minute = minute_of(NOW)
    store.add_metrics({"Charge": JobCounts(3, 1, 120.0)}, NOW)
    store.beat(
        beat_for(
            "box:1:aaa", beat=NOW + 1, metrics={"Charge": JobCounts(2, 0, 30.0), "Mail": JobCounts(1, 1, 0.0)}
        )
    )
    store.add_metrics({"Charge": JobCounts(1, 0, 5.0)}, NOW + 120)
    store.add_metrics({"Charge": JobCounts(7, 0, 5.0)}, NOW - 3600)

    recent = store.job_metrics(NOW + 120, 5)

    assert sorted(recent) == [m for m in (minute, minute + 60, minute + 120) if m in recent]
    assert recent[minute] == {"Charge": JobCounts(5, 1, 150.0), "Mail": JobCounts(1, 1, 0.0)}
    assert recent[minute + 120] == {"Charge": JobCounts(1, 0, 5.0)}
    assert minute - 3600 not in recent


def test_a_store_describes_itself(store: Store) -> None:
    info = store.info()

    assert info["store"] in ("memory", "sqlite", "redis")


def test_job_histograms_add_up_per_bucket_and_minute(store: Store) -> None:
    minute = minute_of(NOW)
    one, two = [0] * 26, [0] * 26
    one[0], one[7], two[7], two[25] = 3, 1, 2, 1
    store.add_metrics(
        {"Charge": JobCounts(4, 0, 900.0, one), "Mail": JobCounts(1, 0, 5.0, [1] + [0] * 25)}, NOW
    )
    store.beat(beat_for("box:1:aaa", beat=NOW + 1, metrics={"Charge": JobCounts(3, 0, 400_000.0, two)}))
    store.add_metrics({"Charge": JobCounts(1, 0, 10.0, [1] + [0] * 25)}, NOW + 60)

    histogram = store.job_histogram("Charge", NOW + 60, 5)

    expected = [0] * 26
    expected[0], expected[7], expected[25] = 3, 3, 1
    assert histogram == {minute: expected, minute + 60: [1] + [0] * 25}
    assert store.job_histogram("Charge", NOW - 3600, 5) == {}
    assert store.job_metrics(NOW, 1)[minute]["Charge"] == JobCounts(7, 0, 400_900.0)  # buckets not read here


# ---- periodic schedules ------------------------------------------------------------------------

SCHEDULE = '{"cron":"* * * * *","job":"HardJob"}'


def test_a_tick_is_claimed_once_however_many_handles_race_for_it(
    store: Store, handles: Callable[[], Store]
) -> None:
    # given a schedule registered before its tick
    store.periodic_sync({"sync-dns": SCHEDULE}, NOW)
    wins: list[int] = []

    # when eight threads on their own handles claim the same three ticks
    def claim(index: int) -> None:
        handle = handles()
        for tick in (NOW + 60, NOW + 120, NOW + 180):
            if handle.periodic_claim("sync-dns", tick, "default", job(f"{index}-{tick}"), f"j{index}", NOW):
                wins.append(index)

    run_threads(8, claim)

    # then each tick enqueued exactly one job, and the schedule remembers the last tick
    assert len(wins) == 3
    assert store.queue_size("default") == 3
    [state] = store.periodic_states()
    assert state.last_tick == NOW + 180


def test_a_claim_pushes_its_job_and_an_old_or_repeated_tick_pushes_nothing(store: Store) -> None:
    store.periodic_sync({"nightly": SCHEDULE}, NOW)

    assert store.periodic_claim("nightly", NOW + 60, "reports", job(1, "reports"), "jid-1", NOW + 61)
    assert not store.periodic_claim("nightly", NOW + 60, "reports", job(2, "reports"), "jid-2", NOW + 61)
    assert not store.periodic_claim("nightly", NOW + 30, "reports", job(3, "reports"), "jid-3", NOW + 61)
    # a tick before the schedule was registered never fires
    assert not store.periodic_claim("nightly", NOW - 60, "reports", job(4, "reports"), "jid-4", NOW + 61)

    assert store.queue_range("reports", 0, -1) == [job(1, "reports")]
    assert "reports" in store.queue_names()
    [state] = store.periodic_states()
    assert (state.last_jid, state.last_enqueued_at) == ("jid-1", NOW + 61)


def test_sync_removes_schedules_no_longer_declared_and_keeps_the_history_of_the_others(store: Store) -> None:
    store.periodic_sync({"a": SCHEDULE, "b": SCHEDULE}, NOW)
    store.periodic_claim("a", NOW + 60, "default", job(1), "jid-a", NOW + 60)
    store.periodic_pause("a", True, NOW + 61)

    removed = store.periodic_sync({"a": '{"cron":"@hourly","job":"HardJob"}'}, NOW + 100)

    assert removed == ["b"]
    [state] = store.periodic_states()
    assert (state.name, state.definition, state.paused, state.last_tick) == (
        "a",
        '{"cron":"@hourly","job":"HardJob"}',
        True,
        NOW + 60,
    )
    # a removed schedule's ticks are refused: an old worker still declaring it enqueues nothing
    assert not store.periodic_claim("b", NOW + 120, "default", job(2), "jid-b", NOW + 120)
    assert store.queue_size("default") == 1


def test_a_paused_schedule_enqueues_nothing_and_resuming_skips_the_ticks_it_slept_through(
    store: Store,
) -> None:
    store.periodic_sync({"a": SCHEDULE}, NOW)

    assert store.periodic_pause("a", True, NOW + 1)
    assert not store.periodic_claim("a", NOW + 60, "default", job(1), "j1", NOW + 60)
    assert store.periodic_pause("a", False, NOW + 200)
    assert not store.periodic_claim("a", NOW + 180, "default", job(2), "j2", NOW + 200)
    assert store.periodic_claim("a", NOW + 240, "default", job(3), "j3", NOW + 240)

    assert store.queue_range("default", 0, -1) == [job(3)]
    assert not store.periodic_pause("unknown", True, NOW)


def test_enqueue_now_pushes_out_of_band_and_leaves_the_next_tick_to_fire(store: Store) -> None:
    store.periodic_sync({"a": SCHEDULE}, NOW)

    assert store.periodic_enqueue_now("a", "default", job(1), "manual", NOW + 10)
    assert store.periodic_claim("a", NOW + 60, "default", job(2), "ticked", NOW + 60)
    assert not store.periodic_enqueue_now("gone", "default", job(3), "x", NOW + 10)

    assert store.queue_range("default", 0, -1) == [job(2), job(1)]


def test_the_outcome_of_a_periodic_job_is_kept_until_the_next_enqueue(store: Store) -> None:
    store.periodic_sync({"a": SCHEDULE}, NOW)
    store.periodic_claim("a", NOW + 60, "default", job(1), "jid-1", NOW + 60)

    store.periodic_outcome("a", "jid-1", "failed", NOW + 61)
    store.periodic_outcome("gone", "jid-1", "done", NOW + 61)

    [state] = store.periodic_states()
    assert (state.last_jid, state.last_outcome, state.last_outcome_at) == ("jid-1", "failed", NOW + 61)
    store.periodic_claim("a", NOW + 120, "default", job(2), "jid-2", NOW + 120)
    [state] = store.periodic_states()
    assert (state.last_jid, state.last_outcome) == ("jid-2", None)


# ---- unique-job locks --------------------------------------------------------------------------


def test_a_unique_lock_goes_to_one_of_many_racing_owners(store: Store, handles: Callable[[], Store]) -> None:
    winners: list[str] = []

    def take(index: int) -> None:
        if handles().unique_lock("digest-1", f"jid-{index}", 30, time.time()):
            winners.append(f"jid-{index}")

    run_threads(8, take)

    assert len(winners) == 1
    assert store.unique_owner("digest-1", time.time()) == winners[0]


def test_only_the_owner_releases_a_unique_lock_and_then_it_is_free(store: Store) -> None:
    assert store.unique_lock("digest-2", "jid-a", 30, time.time())

    assert not store.unique_unlock("digest-2", "jid-b")
    assert not store.unique_lock("digest-2", "jid-b", 30, time.time())
    assert store.unique_unlock("digest-2", "jid-a")

    assert store.unique_owner("digest-2", time.time()) is None
    assert store.unique_lock("digest-2", "jid-b", 30, time.time())


def test_a_unique_lock_expires_after_its_ttl(store: Store) -> None:
    assert store.unique_lock("digest-3", "jid-a", 0.2, time.time())

    wait_for(lambda: store.unique_owner("digest-3", time.time()) is None, what="the lock to expire")

    assert store.unique_lock("digest-3", "jid-b", 30, time.time())
    assert store.unique_owner("digest-3", time.time()) == "jid-b"


# ---- named counters ----------------------------------------------------------------------------


def test_a_named_counter_adds_up_and_survives_a_counter_reset(store: Store) -> None:
    store.add_stat("expired", 2, NOW)
    store.add_stat("expired", 3, NOW + 86400)

    store.reset_counters()

    assert store.stat("expired") == 5
    assert store.stat("never-counted") == 0
    assert (store.counters().processed, store.counters().failed) == (0, 0)
