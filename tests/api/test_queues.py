"""Queues: listing, paging newest first, finding, deleting, clearing, pausing."""

from __future__ import annotations

import pytest

from sidequest import api
from sidequest.errors import ConfigError
from sidequest.stores import Store
from tests.api.conftest import job


def test_all_queues_are_listed_with_size_latency_and_paused_state(store: Store) -> None:
    store.push(
        [("default", job(1)), ("mailers", job(2, queue="mailers")), ("mailers", job(3, queue="mailers"))]
    )
    api.Queue("mailers", store).pause()

    summaries = [q.summary() for q in api.Queue.all(store)]

    assert [(s.name, s.size, s.paused) for s in summaries] == [("default", 1, False), ("mailers", 2, True)]
    assert all(s.latency >= 0 for s in summaries)


def test_a_queue_pages_newest_first(store: Store) -> None:
    store.push([("default", job(i, args=[i, "x"])) for i in range(7)])
    queue = api.Queue("default", store)

    first, last = queue.page(1, per_page=3), queue.page(3, per_page=3)

    assert [j.args[0] for j in first.items] == [6, 5, 4]
    assert [j.args[0] for j in last.items] == [0]
    assert (first.total, first.pages) == (7, 3)
    assert [j.args[0] for j in queue] == [6, 5, 4, 3, 2, 1, 0]


def test_a_queue_page_takes_the_size_its_caller_just_read(store: Store) -> None:
    # given a queue of seven jobs whose size the caller has read (as the dashboard's header does)
    store.push([("default", job(i, args=[i])) for i in range(7)])
    queue = api.Queue("default", store)
    size = queue.size()
    # when it asks for a page with that size
    page = queue.page(2, per_page=3, total=size)
    # then the page holds the same jobs and counts as without it
    assert [j.args[0] for j in page.items] == [3, 2, 1]
    assert (page.total, page.pages) == (7, 3)


def test_a_queue_pages_oldest_first_when_asked(store: Store) -> None:
    store.push([("default", job(i, args=[i])) for i in range(7)])
    queue = api.Queue("default", store)

    pages = [queue.page(n, per_page=3, oldest_first=True) for n in (1, 2, 3, 4)]

    assert [[j.args[0] for j in p.items] for p in pages] == [[0, 1, 2], [3, 4, 5], [6], []]


def test_paging_refuses_page_zero(store: Store) -> None:
    with pytest.raises(ConfigError, match="page=0"):
        api.Queue("default", store).page(0)


def test_a_job_is_found_by_jid_and_deleted(store: Store) -> None:
    store.push([("default", job(i)) for i in range(3)])
    queue = api.Queue("default", store)

    found = queue.find_job(f"{1:0>24}")
    assert found is not None and found.args == [1] and found.job_class == "HardJob"
    assert queue.delete(found) is True

    assert queue.delete(found) is False
    assert queue.find_job(f"{1:0>24}") is None
    assert queue.size() == 2


def test_clearing_a_queue_drops_its_jobs_and_name(store: Store) -> None:
    store.push([("default", job(i)) for i in range(3)] + [("other", job(9, queue="other"))])

    assert api.Queue("default", store).clear() == 3

    assert [q.name for q in api.Queue.all(store)] == ["other"]


def test_a_paused_queue_waits_and_a_resumed_one_is_fetched(store: Store) -> None:
    store.push([("default", job(1))])
    queue = api.Queue("default", store)

    queue.pause()
    assert queue.paused() and store.fetch("box:1:aaa", ["default"], 5) == []
    queue.resume()

    assert not queue.paused()
    assert len(store.fetch("box:1:aaa", ["default"], 5)) == 1


def test_job_records_decode_what_the_client_wrote(store: Store) -> None:
    store.push([("default", job(1, "Mailer", args=[1, {"to": "a@b.c"}], wrapped="WelcomeMail"))])

    record = api.Queue("default", store).page().items[0]

    assert (record.job_class, record.display_class, record.queue) == ("Mailer", "WelcomeMail", "default")
    assert record.args == [1, {"to": "a@b.c"}]
    assert record.created_at is not None and record.enqueued_at is not None
    assert record.retry_count is None and record.backtrace == []


def test_an_unreadable_job_is_listed_with_its_raw_text(store: Store) -> None:
    store.push([("default", "not json {")])

    record = api.Queue("default", store).page().items[0]

    assert (record.raw, record.display_class, record.jid) == ("not json {", "(unreadable payload)", "")
