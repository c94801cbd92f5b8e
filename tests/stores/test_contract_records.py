"""Records (Store.put_record / get_record): small values by key with an expiry, on every store."""

from __future__ import annotations

from sidequest.stores import Store
from tests.support.worker import wait_for


def test_a_record_reads_back_until_replaced(store: Store, second_store: Store) -> None:
    # given a record kept for a minute
    store.put_record("task:1", '{"status": "READY"}', 60)
    # then another handle on the same store reads it
    assert second_store.get_record("task:1") == '{"status": "READY"}'
    # when it is replaced, the new value is what every reader sees
    store.put_record("task:1", '{"status": "SUCCESSFUL"}', 60)
    assert second_store.get_record("task:1") == '{"status": "SUCCESSFUL"}'


def test_a_record_never_kept_reads_as_none(store: Store) -> None:
    assert store.get_record("task:missing") is None


def test_a_record_is_gone_once_its_ttl_passes(store: Store) -> None:
    # given a record with a short ttl beside one with a long ttl
    store.put_record("short", "x", 0.2)
    store.put_record("long", "y", 600)
    # then the short one vanishes on its own and the long one stays
    wait_for(lambda: store.get_record("short") is None, timeout=10, what="the short record to expire")
    assert store.get_record("long") == "y"


def test_records_are_not_jobs(store: Store) -> None:
    # given a record
    store.put_record("task:2", "{}", 60)
    # then no queue or set gained an entry
    assert store.queue_names() == []
    assert all(store.set_size(name) == 0 for name in ("schedule", "retry", "dead"))
