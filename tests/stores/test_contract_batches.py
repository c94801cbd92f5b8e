"""The batch part of the store contract, run against every store (memory, SQLite, Redis)."""

from __future__ import annotations

import threading
import time

from sidequest.stores import Store

NOW = 1_700_000_000.0
DAY = 86400.0

CALLBACKS = [
    ("complete", '{"class":"Done","queue":"default","args":["complete"],"jid":"c1"}'),
    ("success", '{"class":"Done","queue":"default","args":["success"],"jid":"s1"}'),
    ("death", '{"class":"Done","queue":"default","args":["death"],"jid":"d1"}'),
]


def scheduled(store: Store) -> list[str]:
    return [payload for _, payload in store.set_range("schedule", 0, -1)]


def make(store: Store, bid: str = "b1", members: tuple[str, ...] = ("j1", "j2")) -> None:
    assert store.batch_create(bid, '{"description": "import"}', CALLBACKS, NOW, DAY, 60.0)
    assert store.batch_add(bid, list(members)) == len(members)


def test_a_batch_fires_complete_and_success_once_when_its_jobs_succeed(store: Store) -> None:
    # given a batch of two jobs
    make(store)
    # when the first succeeds, nothing fires; when the second does, complete then success fire
    assert store.batch_done("b1", "j1", "success", "", NOW + 1) == []
    assert store.batch_done("b1", "j2", "success", "", NOW + 2) == ["complete", "success"]
    # then each callback is scheduled once, and repeating the step (a re-run) fires nothing
    assert store.batch_done("b1", "j2", "success", "", NOW + 3) == []
    assert sorted(scheduled(store)) == sorted([CALLBACKS[0][1], CALLBACKS[1][1]])
    state = store.batch_state("b1")
    assert state is not None
    assert (state.total, state.pending, state.unrun, state.failures) == (2, 0, 0, 0)
    assert state.fired == {"complete": NOW + 2, "success": NOW + 2}
    assert state.meta == '{"description": "import"}'
    assert state.created_at == NOW


def test_complete_fires_after_a_failure_and_success_after_the_retry_succeeds(store: Store) -> None:
    make(store)
    assert store.batch_done("b1", "j1", "success", "", NOW) == []
    # a failing job has run: complete fires, success waits
    assert store.batch_done("b1", "j2", "failure", "ValueError: bad row", NOW + 1) == ["complete"]
    state = store.batch_state("b1")
    assert state is not None
    assert (state.pending, state.failures, state.failed) == (1, 1, {"j2": "ValueError: bad row"})
    assert store.batch_members("b1") == ["j2"]
    # the retry succeeds: success fires and the failure is forgotten
    assert store.batch_done("b1", "j2", "success", "", NOW + 2) == ["success"]
    state = store.batch_state("b1")
    assert state is not None
    assert (state.pending, state.failures, state.failed) == (0, 0, {})


def test_death_fires_once_and_success_never(store: Store) -> None:
    make(store, members=("j1", "j2", "j3"))
    assert store.batch_done("b1", "j1", "death", "died", NOW) == ["death"]
    assert store.batch_done("b1", "j2", "death", "died too", NOW) == []
    assert store.batch_done("b1", "j3", "success", "", NOW) == ["complete"]
    state = store.batch_state("b1")
    assert state is not None
    assert (state.dead, state.failures, state.pending) == (2, 2, 2)
    assert CALLBACKS[1][1] not in scheduled(store)
    assert CALLBACKS[2][1] in scheduled(store)


def test_unknown_members_and_batches_change_nothing(store: Store) -> None:
    make(store)
    assert store.batch_done("b1", "stranger", "failure", "x", NOW) == []
    assert store.batch_done("nope", "j1", "success", "", NOW) == []
    assert store.batch_add("nope", ["j9"]) is None
    state = store.batch_state("b1")
    assert state is not None and state.failures == 0
    assert store.batch_state("nope") is None
    # creating it again keeps the first
    assert not store.batch_create("b1", "{}", [], NOW, DAY, 60.0)


def test_uncounted_members_hold_the_batch_open_without_counting(store: Store) -> None:
    make(store, members=("j1",))
    assert store.batch_add("b1", ["hold:1"], counted=False) == 1
    assert store.batch_done("b1", "j1", "success", "", NOW) == []
    state = store.batch_state("b1")
    assert state is not None and (state.total, state.pending) == (1, 1)
    # a child batch that ran lets complete fire but not success
    assert store.batch_done("b1", "hold:1", "ran", "", NOW) == ["complete"]
    assert store.batch_done("b1", "hold:1", "success", "", NOW) == ["success"]


def test_success_lets_the_batch_expire_after_its_success_ttl(store: Store) -> None:
    assert store.batch_create("short", "{}", [], NOW, DAY, 0.2)
    store.batch_add("short", ["j1"])
    assert "short" in store.batch_ids()
    store.batch_done("short", "j1", "success", "", NOW)
    deadline = time.monotonic() + 10
    while store.batch_state("short") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.batch_state("short") is None
    assert "short" not in store.batch_ids()


def test_batch_ids_lists_newest_first(store: Store) -> None:
    store.batch_create("older", "{}", [], NOW, DAY, 60.0)
    store.batch_create("newer", "{}", [], NOW + 5, DAY, 60.0)
    assert store.batch_ids()[:2] == ["newer", "older"]


def test_racing_finishers_fire_each_event_exactly_once(store: Store, second_store: Store) -> None:
    # given a batch of 200 jobs finished by 8 threads on two handles, each job reported twice
    members = [f"j{i}" for i in range(200)]
    make(store, members=tuple(members))
    fired: list[str] = []
    lock = threading.Lock()

    def finish(handle: Store, part: list[str]) -> None:
        for member in part:
            events = handle.batch_done("b1", member, "success", "", NOW)
            with lock:
                fired.extend(events)

    threads = [
        threading.Thread(target=finish, args=(store if i % 2 else second_store, members[i::4]))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then complete and success fired once each, and each callback was scheduled once
    assert sorted(fired) == ["complete", "success"]
    assert sorted(scheduled(store)) == sorted([CALLBACKS[0][1], CALLBACKS[1][1]])


def test_members_that_report_before_they_are_added_get_their_outcome_when_added(store: Store) -> None:
    # given a batch held open (as a jobs() block holds it) whose jids are added after their pushes
    make(store, members=("hold",))
    # when jobs finish before their jids are added: one succeeds, one fails, one dies
    assert store.batch_done("b1", "early-ok", "success", "", NOW) == []
    assert store.batch_done("b1", "early-bad", "failure", "ValueError: x", NOW) == []
    assert store.batch_done("b1", "early-dead", "death", "died", NOW) == []
    state = store.batch_state("b1")
    assert state is not None and (state.total, state.pending, state.failures) == (1, 1, 0)
    assert store.batch_add("b1", ["early-ok", "early-bad", "early-dead", "late"]) == 4
    # then the one that succeeded only counts; the failed ones wait for their retry, as if added first
    state = store.batch_state("b1")
    assert state is not None
    assert (state.total, state.pending, state.unrun, state.failures, state.dead) == (5, 4, 2, 2, 1)
    assert state.failed == {"early-bad": "ValueError: x", "early-dead": "died"}
    assert store.batch_members("b1") == ["early-bad", "early-dead", "hold", "late"]
    # and the batch completes once the hold and the late job ran, and succeeds after the retries
    assert store.batch_done("b1", "hold", "success", "", NOW) == ["death"]
    assert store.batch_done("b1", "late", "success", "", NOW) == ["complete"]
    assert store.batch_done("b1", "early-bad", "success", "", NOW) == []
    assert store.batch_done("b1", "early-dead", "success", "", NOW) == ["success"]


def test_a_second_run_of_a_job_that_succeeded_changes_nothing(store: Store) -> None:
    make(store, members=("j1", "j2"))
    store.batch_done("b1", "j1", "success", "", NOW)
    # the re-run of j1 fails this time: it is no longer pending, so the batch is unchanged
    assert store.batch_done("b1", "j1", "failure", "ValueError: again", NOW) == []
    state = store.batch_state("b1")
    assert state is not None and (state.pending, state.failures, state.total) == (1, 0, 2)
    assert store.batch_done("b1", "j2", "success", "", NOW) == ["complete", "success"]


def test_deferred_reports_are_written_by_the_next_ack(store: Store) -> None:
    from sidequest.stores.batches import Report

    make(store, members=("j1",))
    store.defer_batch_done(Report("b1", "j1", "success", "", NOW))
    state = store.batch_state("b1")
    assert state is not None and state.pending == 1
    store.ack("nobody", [])
    state = store.batch_state("b1")
    assert state is not None and state.pending == 0 and "success" in state.fired


def test_many_reports_in_one_step_fire_each_batch_once(store: Store) -> None:
    from sidequest.stores.batches import Report

    make(store, "b1", members=("a1", "a2"))
    make(store, "b2", members=("c1", "c2"))
    reports = [
        Report("b1", "a1", "success", "", NOW),
        Report("b2", "c1", "failure", "KeyError: 'x'", NOW),
        Report("b1", "a2", "success", "", NOW),
        Report("b1", "a2", "success", "", NOW),  # a second run reported in the same step
        Report("b2", "c2", "success", "", NOW),
    ]
    fired = store.batch_done_many(reports)
    assert sorted(event for events in fired for event in events) == ["complete", "complete", "success"]
    assert store.batch_state("b1").fired.keys() == {"complete", "success"}  # type: ignore[union-attr]
    b2 = store.batch_state("b2")
    assert b2 is not None and b2.fired.keys() == {"complete"} and b2.failed == {"c1": "KeyError: 'x'"}
