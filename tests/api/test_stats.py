"""Stats: the dashboard's counters, reset and the daily history, the same on every store."""

from __future__ import annotations

import pytest

from sidequest import api
from sidequest.errors import ConfigError
from sidequest.stores import Store
from tests.api.conftest import NOW, beat, failed, job
from tests.support.worker import wait_for


def test_stats_count_every_place_a_job_can_be(store: Store) -> None:
    store.push([("default", job(1)), ("default", job(2)), ("mailers", job(3, queue="mailers"))])
    store.schedule([(NOW + 3600, job(4))])
    store.add_to_set("retry", [(NOW + 60, failed(5)), (NOW + 90, failed(6))])
    store.add_to_set("dead", [(NOW, failed(7))])
    store.add_counts(10, 3, NOW)
    store.beat(beat("box:1:aaa", busy=2))
    store.beat(beat("box:2:bbb", busy=1, quiet=True))

    stats = api.Stats(store).read()

    assert (stats.processed, stats.failed) == (10, 3)
    assert (stats.enqueued, stats.scheduled, stats.retries, stats.dead) == (3, 1, 2, 1)
    assert (stats.processes, stats.busy, stats.quiet) == (2, 3, 1)
    assert stats.held_by_dead == 0
    assert stats.default_latency > 0  # the default queue's oldest job was enqueued when pushed


def test_stats_show_jobs_held_by_a_dead_process_instead_of_zeros(store: Store) -> None:
    store.push([("default", job(1)), ("default", job(2))])
    store.beat(beat("box:1:aaa", ttl=0.3, busy=2))
    store.fetch("box:1:aaa", ["default"], 2)

    wait_for(lambda: api.Stats(store).read().processes == 0, what="the process's heartbeat to expire")

    stats = api.Stats(store).read()
    assert (stats.enqueued, stats.busy, stats.held_by_dead) == (0, 0, 2)
    held = api.HeldByDead(store).list()
    assert [(h.identity, h.job.jid[-1]) for h in held] == [("box:1:aaa", "1"), ("box:1:aaa", "2")]


def test_default_latency_is_zero_for_an_empty_default_queue(store: Store) -> None:
    store.push([("mailers", job(1, queue="mailers"))])

    assert api.Stats(store).read().default_latency == 0.0


def test_reset_zeroes_the_totals_and_keeps_the_history(store: Store) -> None:
    store.add_counts(5, 2, NOW)
    stats = api.Stats(store)

    stats.reset()

    assert (stats.read().processed, stats.read().failed) == (0, 0)
    assert stats.history(1, until=NOW)[0].processed == 5


def test_history_lists_each_day_newest_first(store: Store) -> None:
    store.add_counts(4, 1, NOW)
    store.add_counts(2, 2, NOW - 2 * 86400)

    days = api.Stats(store).history(3, until=NOW)

    assert [(d.date, d.processed, d.failed) for d in days] == [
        ("2026-11-28", 4, 1),
        ("2026-11-27", 0, 0),
        ("2026-11-26", 2, 2),
    ]


def test_history_refuses_a_period_it_cannot_cover(store: Store) -> None:
    with pytest.raises(ConfigError, match="1 to 1825 days, got 0"):
        api.Stats(store).history(0)


def test_store_info_names_the_store(store: Store, store_url: str) -> None:
    info = api.Stats(store).store_info()

    assert info["store"] == store_url.split(":")[0]
    if info["store"] == "redis":
        assert info["redis_version"]
    if info["store"] == "sqlite":
        assert int(info["size_bytes"]) > 0
