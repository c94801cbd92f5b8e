"""The schedule, retry and dead sets: paging, finding, searching, and every action, on every store."""

from __future__ import annotations

import json

import pytest

from sidequest import api
from sidequest.errors import JobNotFound
from sidequest.stores import Store
from tests.api.conftest import NOW, failed, job


def jid(n: int) -> str:
    return f"{n:0>24}"


def test_a_set_pages_newest_first_and_walks_past_one_page(store: Store) -> None:
    store.add_to_set("retry", [(NOW + i, failed(i)) for i in range(230)])
    retries = api.RetrySet(store)

    first = retries.page(1, per_page=25)

    assert [e.jid for e in first.items[:2]] == [jid(229), jid(228)]
    assert (first.total, first.pages) == (230, 10)
    walked = [e.jid for e in retries]
    assert len(walked) == 230 and walked[0] == jid(229) and walked[-1] == jid(0)


def test_a_set_pages_oldest_first_when_asked(store: Store) -> None:
    store.add_to_set("schedule", [(NOW + i, job(i)) for i in range(5)])

    first = api.ScheduledSet(store).page(1, per_page=2, oldest_first=True)

    assert [e.jid for e in first.items] == [jid(0), jid(1)]


def test_entries_carry_score_key_and_decoded_error(store: Store) -> None:
    store.add_to_set("retry", [(NOW + 60, failed(1, "Charge", "card declined", args=[42]))])

    entry = api.RetrySet(store).page().items[0]

    assert entry.key == f"{NOW + 60!r}-{jid(1)}"
    assert (entry.score, entry.set_name) == (NOW + 60, "retry")
    assert entry.at.timestamp() == pytest.approx(NOW + 60, abs=1e-5)  # datetimes hold microseconds
    assert (entry.display_class, entry.args, entry.retry_count) == ("Charge", [42], 2)
    assert (entry.error_class, entry.error_message) == ("RuntimeError", "card declined")
    assert entry.backtrace == ["shop/jobs.py:12:in `perform'", "sidequest/runtime/execute.py:30"]
    assert entry.failed_at is not None and entry.failed_at.timestamp() == pytest.approx(NOW, abs=1e-5)


def test_entries_are_found_by_jid_and_by_web_key(store: Store) -> None:
    store.add_to_set("schedule", [(NOW + i, job(i)) for i in range(5)])
    store.add_to_set("schedule", [(NOW + 2, job(77))])  # shares a score with job 2
    scheduled = api.ScheduledSet(store)

    by_jid = scheduled.find_job(jid(77))
    assert by_jid is not None and by_jid.args == [77]
    by_key = scheduled.fetch(f"{NOW + 2!r}-{jid(2)}")
    assert by_key is not None and by_key.args == [2]
    assert scheduled.fetch(f"{NOW + 3!r}-{jid(2)}") is None
    assert scheduled.fetch("garbage") is None
    assert scheduled.find_job(jid(99)) is None
    with pytest.raises(JobNotFound, match=f"no job '{jid(99)}' in the schedule set"):
        scheduled.get(jid(99))


def test_search_filters_by_class_and_by_text_in_args_or_error(store: Store) -> None:
    store.add_to_set(
        "dead",
        [
            (NOW + 1, failed(1, "Charge", "card declined", args=["order-17"])),
            (NOW + 2, failed(2, "Mailer", "smtp timeout", args=["order-17"])),
            (NOW + 3, failed(3, "Charge", "smtp timeout", args=["order-18"])),
            (NOW + 4, failed(4, "ChargeBack", "card declined", args=["order-19"])),
        ],
    )
    dead = api.DeadSet(store)

    assert [e.args[0] for e in dead.search("order-17")] == ["order-17", "order-17"]
    assert [e.jid for e in dead.search("smtp")] == [jid(3), jid(2)]
    assert [e.jid for e in dead.search(job_class="Charge")] == [jid(3), jid(1)]
    assert [e.jid for e in dead.search("declined", job_class="Charge")] == [jid(1)]
    assert dead.search("nothing like this") == []


def test_search_finds_quotes_backslashes_and_newlines_as_the_job_shows_them(store: Store) -> None:
    # given failed jobs whose args and errors hold quotes, a Windows path and a newline
    store.add_to_set(
        "dead",
        [
            (NOW + 1, failed(1, "Mailer", 'template "welcome" missing', args=['say "hi"'])),
            (NOW + 2, failed(2, "Backup", "cannot open C:\\temp\\new.txt", args=["C:\\temp"])),
            (NOW + 3, failed(3, "Report", "bad row", args=["line one\nline two"])),
        ],
    )
    dead = api.DeadSet(store)
    # when an operator types the text as the page shows it, then the job is found
    assert [e.jid for e in dead.search('say "hi"')] == [jid(1)]
    assert [e.jid for e in dead.search('"welcome"', job_class="Mailer")] == [jid(1)]
    assert [e.jid for e in dead.search("C:\\temp\\new")] == [jid(2)]
    assert [e.jid for e in dead.search("one\nline")] == [jid(3)]
    # and as the lists show args, in their JSON spelling
    assert [e.jid for e in dead.search('say \\"hi\\"')] == [jid(1)]
    assert [e.jid for e in dead.search("C:\\\\temp")] == [jid(2)]


def test_search_by_class_and_text_finds_a_match_past_the_first_thousand_of_the_class(store: Store) -> None:
    # given 1,001 failed Charge jobs, of which only the newest mentions order 77
    entries = [(NOW + i, failed(i, "Charge", "card declined", args=[f"order-{i}"])) for i in range(1000)]
    entries.append((NOW + 1000, failed(1000, "Charge", "card declined", args=["order-77-rush"])))
    store.add_to_set("retry", entries)
    # when searching the class for the text, then it is found
    found = api.RetrySet(store).search("order-77-rush", job_class="Charge")
    assert [e.jid for e in found] == [jid(1000)]
    # and a search limited to two gives the two newest matches
    assert [e.jid for e in api.RetrySet(store).search("declined", limit=2)] == [jid(1000), jid(999)]


def test_retry_enqueues_now_with_one_retry_given_back(store: Store) -> None:
    store.add_to_set("retry", [(NOW + 60, failed(1, retry_count=3, queue="mailers"))])
    retries = api.RetrySet(store)

    assert retries.retry(jid(1)) is True

    assert retries.size() == 0
    enqueued = api.Queue("mailers", store).page().items[0]
    assert (enqueued.jid, enqueued.retry_count, enqueued.error_class) == (jid(1), 2, "RuntimeError")
    assert enqueued.enqueued_at is not None


def test_an_entry_acted_on_twice_moves_once(store: Store) -> None:
    store.add_to_set("retry", [(NOW, failed(1))])
    retries = api.RetrySet(store)
    entry = retries.page().items[0]

    assert retries.retry(entry) is True
    assert retries.retry(entry) is False
    assert retries.kill(entry) is False
    assert retries.delete(entry) is False

    assert api.Queue("default", store).size() == 1 and api.DeadSet(store).size() == 0


def test_add_to_queue_enqueues_a_scheduled_job_unchanged_but_for_enqueued_at(store: Store) -> None:
    raw = job(1, args=["a", {"b": 1}])
    store.add_to_set("schedule", [(NOW + 3600, raw)])

    assert api.ScheduledSet(store).add_to_queue(jid(1)) is True

    queued = api.Queue("default", store).page().items[0]
    written = json.loads(raw)
    assert {k: v for k, v in queued.item.items() if k != "enqueued_at"} == {
        k: v for k, v in written.items() if k != "enqueued_at"
    }
    assert queued.item["enqueued_at"] > written["enqueued_at"]  # stamped when it moved


def test_kill_moves_an_entry_to_the_dead_set_now(store: Store) -> None:
    store.add_to_set("retry", [(NOW + 60, failed(1))])

    assert api.RetrySet(store).kill(jid(1)) is True

    dead = api.DeadSet(store).page().items
    assert [e.jid for e in dead] == [jid(1)]
    assert dead[0].score > NOW + 60  # scored at the time of death: now


def test_delete_removes_only_that_entry(store: Store) -> None:
    store.add_to_set("dead", [(NOW, failed(1)), (NOW, failed(2))])
    dead = api.DeadSet(store)

    assert dead.delete(f"{NOW!r}-{jid(1)}") is True

    assert [e.jid for e in dead] == [jid(2)]


def test_retry_all_moves_every_entry_there_was(store: Store) -> None:
    store.add_to_set("dead", [(NOW + i, failed(i, queue="q" + str(i % 2))) for i in range(250)])

    assert api.DeadSet(store).retry_all() == 250

    assert api.DeadSet(store).size() == 0
    assert api.Queue("q0", store).size() + api.Queue("q1", store).size() == 250


def test_kill_all_and_delete_all_empty_the_set(store: Store) -> None:
    store.add_to_set("schedule", [(NOW + i, job(i)) for i in range(120)])
    store.add_to_set("retry", [(NOW + i, failed(i)) for i in range(30)])

    assert api.ScheduledSet(store).kill_all() == 120
    assert api.RetrySet(store).delete_all() == 30

    assert (api.ScheduledSet(store).size(), api.RetrySet(store).size()) == (0, 0)
    assert api.DeadSet(store).size() == 120
