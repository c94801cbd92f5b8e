"""Option values keep their JSON type on the way to the store: True is not 1, False is not 0.

Python says ``True == 1`` and ``hash(True) == hash(1)``, so anything that caches by option value must
key on the type too; Sidekiq reads ``"retry":true`` (25 retries) and ``"retry":1`` (one retry) very
differently, and ``"retry":false`` (drop) and ``"retry":0`` (dead at once) too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sidequest
from sidequest import job, testing
from sidequest.stores import Store, open_store

#: (option, one value, a value Python finds equal to it)
PAIRS = [
    ("retry", True, 1),
    ("retry", False, 0),
    ("backtrace", True, 1),
    ("backtrace", False, 0),
    ("audit", True, 1),
    ("audit", False, 0),
    ("audit", 1, 1.0),
]


class AuditMiddleware:
    """A server middleware that owns the ``audit`` option (it only reads it)."""

    options = frozenset({"audit"})

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        return call_next()


@job(name="tests.option_values.charge", queue="charges")
def charge(order: int) -> None: ...


@pytest.fixture(params=["memory", "sqlite", "redis", "fake"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    sidequest.get_config().server_middleware.add(AuditMiddleware)
    kind = request.param
    if kind == "fake":
        testing.clear_all()
        with testing.fake():
            yield kind
        testing.clear_all()
        return
    url = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp_path / 'options.db'}",
    }.get(kind) or str(request.getfixturevalue("redis_url"))
    store = open_store(url)
    sidequest.get_config().use_store(store)
    yield kind


def stored(where: str) -> list[dict[str, Any]]:
    """The payloads as the store (or fake mode) holds them, oldest first, parsed from their bytes."""
    if where == "fake":
        return list(charge.jobs)
    store: Store = sidequest.get_config().store
    raws = list(reversed(store.queue_range("charges", 0, -1)))
    return [json.loads(raw) for raw in raws]


def typed(value: Any) -> tuple[type, Any]:
    return type(value), value


@pytest.mark.parametrize(("option", "first", "second"), PAIRS)
@pytest.mark.parametrize("order", ["as listed", "reversed"])
def test_equal_but_differently_typed_option_values_are_stored_as_given(
    where: str, option: str, first: Any, second: Any, order: str
) -> None:
    # given two values Python finds equal, enqueued one after the other through .set()
    values = [first, second] if order == "as listed" else [second, first]
    # when each is used for one job
    for number, value in enumerate(values):
        charge.set(**{option: value}).perform_async(number)
    # then each job stores the value it was given, with its own JSON type
    payloads = stored(where)
    assert [typed(p[option]) for p in payloads] == [typed(v) for v in values]


def test_a_decorated_value_and_an_equal_override_stay_apart(where: str) -> None:
    # given a job defined with retry=0 (dead at once) and a .set(retry=False) (dropped) of it
    @job(name="tests.option_values.once", queue="charges", retry=0)
    def once(order: int) -> None: ...

    # when both are enqueued
    once.perform_async(1)
    once.set(retry=False).perform_async(2)
    # then the store holds 0 for the first and false for the second
    payloads = testing.jobs_for(once) if where == "fake" else stored(where)
    assert [typed(p["retry"]) for p in payloads] == [typed(0), typed(False)]
