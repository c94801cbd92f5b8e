"""Set sizes, deep pages and search of the schedule, retry and dead sets, on every store.

The dashboard shows the three set sizes on every page, pages deep into 100,000-entry sets and
searches them; a store may keep sizes instead of counting, read a far page from the other end and
match text its own way, so these check that every kind of write leaves the size exact, that every
page holds the entries it should and that a search keeps the newest literal matches.
"""

from __future__ import annotations

from sidequest.payload import stamp_enqueued_at
from sidequest.stores import Store
from tests.stores.test_contract import NOW, crash_holding, job


def sizes(store: Store) -> dict[str, int]:
    """Each set's size as the store reports it, checked against the entries it lists."""
    reported = {name: store.set_size(name) for name in ("schedule", "retry", "dead")}
    listed = {name: len(store.set_range(name, 0, -1)) for name in reported}
    assert reported == listed
    return reported


def test_set_sizes_stay_exact_through_every_kind_of_write(store: Store) -> None:
    # given entries added in batches, one re-added at a new score and one twice in the same batch
    store.add_to_set("retry", [(NOW + i, job(i)) for i in range(5)])
    store.add_to_set("retry", [(NOW + 10, job(0)), (NOW + 11, job(5)), (NOW + 12, job(5))])
    store.schedule([(NOW - 5, job("due")), (NOW - 4, "{not json"), (NOW + 100, job("later"))])
    assert sizes(store) == {"schedule": 3, "retry": 6, "dead": 0}
    assert store.set_range("retry", -1, -1) == [(NOW + 12, job(5))]

    # when due entries move (the unreadable one to dead), some are removed, some absent
    assert store.promote_due("schedule", NOW) == 2
    assert store.set_remove("retry", [job(1), job("absent")]) == 1
    assert sizes(store) == {"schedule": 1, "retry": 5, "dead": 1}

    # when operators enqueue and kill entries, one of them already gone
    assert store.set_enqueue("retry", [(job(2), job(2)), (job("gone"), job("gone"))], NOW) == 1
    assert store.set_kill("retry", [job(3), job("gone")], NOW, max_jobs=100, max_age=86400) == 1
    assert sizes(store) == {"schedule": 1, "retry": 3, "dead": 2}

    # when jobs die past the dead set's limit, it is trimmed to the newest max_jobs - 1
    for n in range(4):
        store.kill(job(f"dead{n}"), NOW + n, max_jobs=4, max_age=86400)
    assert sizes(store) == {"schedule": 1, "retry": 3, "dead": 3}
    store.kill(job("dead3"), NOW + 9, max_jobs=100, max_age=86400)  # the same job dying again
    assert sizes(store)["dead"] == 3

    # when a job whose process keeps dying is buried in the dead set by recovery
    store.push([("default", job("pill"))])
    crash_holding(store, "box:1:gone")
    [recovered] = store.recover(max_recoveries=1)
    assert recovered.buried
    assert sizes(store) == {"schedule": 1, "retry": 3, "dead": 4}

    # then a cleared set is empty and fills again from zero
    store.set_clear("retry")
    store.add_to_set("retry", [(NOW, job("again"))])
    assert sizes(store) == {"schedule": 1, "retry": 1, "dead": 4}


def test_a_page_near_the_far_end_holds_the_same_entries_as_a_walk(store: Store) -> None:
    # given a set of eleven entries, two sharing a score
    entries = sorted([(float(i), job(i)) for i in range(10)] + [(9.0, job("tie"))])
    store.add_to_set("dead", entries)
    newest = entries[::-1]
    # then every window, in both directions, near either end or past it, matches the list
    for start, stop in [(0, 2), (4, 6), (7, 9), (8, 20), (10, 10), (9, -1), (-3, -1), (11, 15), (-20, 1)]:
        window = slice(start if start >= 0 else max(start + 11, 0), None if stop == -1 else stop + 1)
        assert store.set_range("dead", start, stop) == entries[window], (start, stop)
        assert store.set_range("dead", start, stop, reverse=True) == newest[window], (start, stop)


def test_a_promoted_entry_leaves_its_set_and_lands_in_its_queue_once(store: Store) -> None:
    # given the same job scheduled twice at different times (the second add moves it)
    store.schedule([(NOW - 10, job("twice"))])
    store.schedule([(NOW - 5, job("twice"))])
    # when it is due
    assert store.promote_due("schedule", NOW) == 1
    # then it ran once and the set is empty
    assert store.queue_range("default", 0, -1) == [stamp_enqueued_at(job("twice"), NOW)]
    assert sizes(store)["schedule"] == 0


def test_a_search_keeps_the_newest_matches_and_can_require_a_second_text(store: Store) -> None:
    # given entries whose args say which orders were declined
    store.add_to_set(
        "retry", [(NOW + i, job(f"order-{i}-{'declined' if i % 2 else 'ok'}")) for i in range(6)]
    )
    # then a limited search keeps the newest matches, lowest score first
    assert [score for score, _ in store.set_scan("retry", "order-", limit=2)] == [NOW + 4, NOW + 5]
    # and a second text narrows it
    assert [score for score, _ in store.set_scan("retry", "order-", also="declined")] == [
        NOW + 1,
        NOW + 3,
        NOW + 5,
    ]
    assert store.set_scan("retry", "order-", limit=0) == []


def test_a_search_matches_like_and_glob_characters_literally(store: Store) -> None:
    # given entries that differ only where a pattern language would see wildcards
    literal, lookalike = job("100%_off\\[x]*"), job("100xyoff\\[x]Q")
    store.add_to_set("retry", [(1.0, literal), (2.0, lookalike)])
    # then only the literal text matches
    assert store.set_scan("retry", "100%_off\\\\[x]*") == [(1.0, literal)]
    assert store.set_scan("retry", "%") == [(1.0, literal)]
    assert store.set_scan("retry", "_off") == [(1.0, literal)]


def test_a_fired_batch_callback_counts_in_the_schedule_size(store: Store) -> None:
    # given a batch of one job with complete and success callbacks
    callbacks = [
        ("complete", '{"class":"Done","queue":"default","args":["complete"],"jid":"c1"}'),
        ("success", '{"class":"Done","queue":"default","args":["success"],"jid":"s1"}'),
    ]
    assert store.batch_create("b1", "{}", callbacks, NOW, 86400.0, 60.0)
    assert store.batch_add("b1", ["j1"]) == 1
    # when its job succeeds, both callbacks are scheduled
    assert store.batch_done("b1", "j1", "success", "", NOW + 1) == ["complete", "success"]
    # then the schedule's size counts them
    assert sizes(store)["schedule"] == 2


def test_a_search_for_several_texts_keeps_entries_with_any_of_them(store: Store) -> None:
    # given entries holding one text, the other, both or neither
    one, other, both, neither = job("alpha-x"), job("beta-x"), job("alpha-beta"), job("gamma")
    store.add_to_set("dead", [(1.0, one), (2.0, other), (3.0, both), (4.0, neither)])
    # then one read keeps every entry with either text, each once
    assert store.set_scan("dead", ["alpha", "beta"]) == [(1.0, one), (2.0, other), (3.0, both)]
    assert store.set_scan("dead", ("alpha", "alpha", "gamma"), also="-x") == [(1.0, one)]
    assert store.set_scan("dead", ["alpha", "beta"], limit=1) == [(3.0, both)]
    # and several `also` texts must all be there
    assert store.set_scan("dead", ["alpha", "beta"], also=["-x", "beta"]) == [(2.0, other)]
    assert store.set_scan("dead", ["alpha", "beta"], also=["-", ""]) == [
        (1.0, one),
        (2.0, other),
        (3.0, both),
    ]
    # and no texts match nothing, an empty one everything
    assert store.set_scan("dead", []) == []
    assert len(store.set_scan("dead", ["", "nowhere"])) == 4


def test_a_search_past_the_first_chunks_finds_old_entries_and_stops_at_its_limit(
    store: Store, second_store: Store
) -> None:
    # given a set larger than several of a store's read chunks, with matches newest and oldest
    entries = [
        (NOW + i, job(f"order-{i}" + ("-declined" if i in (0, 1, 9_998) else ""))) for i in range(10_000)
    ]
    store.add_to_set("retry", entries)
    # then a search finds the oldest matches too
    assert [score for score, _ in store.set_scan("retry", "-declined")] == [NOW, NOW + 1, NOW + 9_998]
    # and a search that stops at its limit in the first chunk leaves the store answering correctly
    assert store.set_scan("retry", "order-", limit=3) == entries[-3:]
    assert store.set_size("retry") == 10_000
    assert store.set_range("retry", 0, 0) == entries[:1]
    # and another handle on the same data sees the same
    assert second_store.set_scan("retry", "-declined", limit=1) == [entries[9_998]]
