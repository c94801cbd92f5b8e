"""Processes, running jobs, quiet and stop, on every store."""

from __future__ import annotations

import time

import pytest

from sidequest import api
from sidequest.errors import ProcessNotFound
from sidequest.payload import dumps
from sidequest.stores import Store
from tests.api.conftest import NOW, beat, job


def test_live_processes_show_identity_queues_load_memory_and_quiet_state(store: Store) -> None:
    store.beat(beat("box:11:aaa", busy=2, rss_kb=51200))
    store.beat(beat("box:12:bbb", quiet=True))

    first, second = api.ProcessSet(store).list()

    assert (first.identity, first.name, first.hostname, first.pid, first.tag) == (
        "box:11:aaa",
        "box:11",
        "box",
        11,
        "shop",
    )
    assert first.queues == ["critical", "default"] and first.weights == {"critical": 3, "default": 1}
    assert (first.busy, first.concurrency, first.rss_kb, first.quiet) == (2, 5, 51200, False)
    assert first.started_at is not None and first.started_at.timestamp() == pytest.approx(NOW, abs=1e-5)
    assert abs(first.beat.timestamp() - time.time()) < 60
    assert second.quiet is True


def test_quiet_and_stop_reach_the_process_at_its_next_beat(store: Store) -> None:
    store.beat(beat("box:11:aaa"))
    store.beat(beat("box:12:bbb"))
    processes = api.ProcessSet(store)

    processes.quiet("box:11:aaa")
    processes.stop("box:12")  # hostname:pid, as the Busy page shows it

    assert store.beat(beat("box:11:aaa")).signals == ["TSTP"]
    assert store.beat(beat("box:12:bbb")).signals == ["TERM"]


def test_quiet_all_skips_embedded_processes(store: Store) -> None:
    store.beat(beat("box:11:aaa"))
    embedded = beat("box:12:bbb")
    embedded.info = embedded.info.replace('"embedded":false', '"embedded":true')
    store.beat(embedded)

    quieted = api.ProcessSet(store).quiet_all()

    assert [p.identity for p in quieted] == ["box:11:aaa"]
    assert store.beat(beat("box:12:bbb")).signals == []


def test_signalling_an_unknown_process_names_the_live_ones(store: Store) -> None:
    store.beat(beat("box:11:aaa"))

    with pytest.raises(ProcessNotFound, match="no live process 'box:99:zzz'; live processes: box:11:aaa"):
        api.ProcessSet(store).stop("box:99:zzz")


def test_running_jobs_show_process_thread_queue_payload_and_start(store: Store) -> None:
    late = dumps({"queue": "mailers", "payload": job(2, "Mailer", queue="mailers"), "run_at": int(NOW) + 5})
    early = dumps({"queue": "default", "payload": job(1, args=["x"]), "run_at": int(NOW)})
    store.beat(beat("box:11:aaa", busy=2, work={"t1": late, "t2": early}))

    running = api.WorkSet(store).list()

    assert [(r.identity, r.thread, r.queue, r.job.display_class) for r in running] == [
        ("box:11:aaa", "t2", "default", "HardJob"),
        ("box:11:aaa", "t1", "mailers", "Mailer"),
    ]
    assert running[0].job.args == ["x"]
    assert running[0].started_at is not None and running[0].started_at.timestamp() == int(NOW)
    assert api.WorkSet(store).find_by_jid(f"{2:0>24}") == running[1]
