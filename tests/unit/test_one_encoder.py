"""One payload, whichever path writes it: the template path (no client middleware) and the dict path
(client middleware sees and may edit a dict) store the same bytes for every option combination."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

import sidequest
from sidequest import Job, job, testing
from sidequest import payload as wire
from sidequest.stores.memory import MemoryStore

ABSENT = object()
VALUES: dict[str, list[Any]] = {
    "retry": [ABSENT, True, False, 0, 3],
    "queue": [ABSENT, "critical"],
    "backtrace": [ABSENT, True, 5],
    "tags": [ABSENT, ["a", "b"]],
    "dead": [ABSENT, False],
    "audit": [ABSENT, 1.5, {"who": "ü"}],
}
COMBINATIONS = [
    {key: value for key, value in zip(VALUES, values, strict=True) if value is not ABSENT}
    for values in itertools.product(*VALUES.values())
]


class AuditMiddleware:
    """Server middleware owning the "audit" option."""

    options = frozenset({"audit"})

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        return call_next()


class PassThrough:
    """A client middleware that edits nothing: its presence alone sends pushes down the dict path."""

    options: frozenset[str] = frozenset()

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        return call_next()


@job(name="tests.unit.one_encoder.report")
def report(title: str, rows: list[Any]) -> None: ...


class Nightly(Job, name="tests.unit.one_encoder.Nightly"):
    def perform(self, day: str) -> None: ...


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    memory = MemoryStore()
    config = sidequest.get_config()
    config.use_store(memory)
    config.server_middleware.add(AuditMiddleware)
    with testing.clock.freeze(1_795_827_751.25):
        yield memory
    testing.clock.unfreeze()


def written(store: MemoryStore) -> list[str]:
    """Everything the store holds, queues and schedule, and empties it."""
    raws = [raw for queue in store.queue_names() for raw in store.queue_range(queue, 0, -1)]
    raws += [raw for _, raw in store.set_range("schedule", 0, -1)]
    for queue in store.queue_names():
        store.queue_clear(queue)
    store.set_clear("schedule")
    return raws


def push_all(options: dict[str, Any]) -> None:
    """One job per enqueue form, each with a fixed jid so both paths can be compared byte for byte."""
    jids = (f"{n:024x}" for n in itertools.count(1))
    args = ('Ünïcode ✓ "quoted"', [1, 2.5, None, {"k": [True]}])
    report.set(**options, jid=next(jids)).perform_async(*args)
    report.set(**options, jid=next(jids)).perform_in(60, *args)
    report.set(**options, jid=next(jids)).perform_bulk([args])
    Nightly.set(**options, jid=next(jids)).perform_async("monday")
    sidequest.enqueue("Ruby::Job", [1], **options, jid=next(jids))
    sidequest.Client().push({"class": "Ruby::Job", "args": [2], **options, "jid": next(jids)})


@pytest.mark.parametrize(
    "options", COMBINATIONS, ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()) or "none"
)
def test_the_template_path_and_the_dict_path_write_the_same_bytes(
    store: MemoryStore, options: dict[str, Any]
) -> None:
    # given the same pushes made without client middleware (template) and with one that edits nothing (dict)
    push_all(options)
    by_template = written(store)
    sidequest.get_config().client_middleware.add(PassThrough)
    push_all(options)
    by_dict = written(store)
    # then the store holds the same bytes, in Sidekiq's key order
    assert by_template == by_dict
    assert len(by_template) == 6


@pytest.mark.parametrize("options", COMBINATIONS[::7])
def test_build_is_the_dict_the_template_renders(options: dict[str, Any]) -> None:
    # given the payload module's two entry points for one job
    args = ["x", [1, {"y": None}]]
    template = wire.Template("Job", options)
    built = wire.build("Job", args, {**options, "jid": "f" * 24}, 1.5)
    built["enqueued_at"] = 2.5
    # then rendering the template gives dumps() of the built dict, with or without enqueued_at
    assert template.render(args, f'"{"f" * 24}"', wire.Template.stamps(1.5, 2.5)) == wire.dumps(built)
    del built["enqueued_at"]
    assert template.render(args, f'"{"f" * 24}"', wire.Template.stamps(1.5, None)) == wire.dumps(built)
