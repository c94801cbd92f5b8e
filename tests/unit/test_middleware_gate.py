"""A middleware that declares only_for is neither built nor called for payloads without those keys.

The default server chain (batches) is gated this way, so a plain job pays no middleware cost; a
middleware without only_for still sees every job, gated ones beside it or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from sidequest import get_config, job, testing
from sidequest.middleware.chain import Chain

built: list[str] = []
seen: list[tuple[str, Any]] = []


class OnlyTagged:
    only_for: ClassVar[frozenset[str]] = frozenset({"tag"})

    def __init__(self) -> None:
        built.append("OnlyTagged")

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        seen.append(("OnlyTagged", payload.get("tag")))
        return call_next()


class Everyone:
    def __init__(self) -> None:
        built.append("Everyone")

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        seen.append(("Everyone", payload.get("tag")))
        return call_next()


@job
def greet(name: str) -> str:
    return f"hi {name}"


@pytest.fixture(autouse=True)
def _chain() -> Any:
    built.clear()
    seen.clear()
    chain = get_config().server_middleware
    before = list(chain)
    yield chain
    for klass in list(chain):
        if klass not in before:
            chain.remove(klass)


def test_a_gated_middleware_is_skipped_for_a_payload_without_its_keys(_chain: Chain) -> None:
    _chain.add(OnlyTagged)
    with testing.inline():
        greet.perform_async("ada")
    assert built == [] and seen == []


def test_a_gated_middleware_runs_for_a_payload_with_one_of_its_keys() -> None:
    chain = Chain()
    chain.add(OnlyTagged)
    reached, result = chain.invoke((None, {"class": "x", "tag": "blue"}, "default"), lambda: 42)
    assert (reached, result) == (True, 42)
    assert seen == [("OnlyTagged", "blue")]


def test_an_ungated_middleware_sees_every_job_and_the_gated_one_only_its_own() -> None:
    chain = Chain()
    chain.add(OnlyTagged)
    chain.add(Everyone)
    chain.invoke((None, {"class": "x"}, "default"), lambda: None)
    chain.invoke((None, {"class": "x", "tag": "red"}, "default"), lambda: None)
    assert seen == [("Everyone", None), ("OnlyTagged", "red"), ("Everyone", "red")]
    # removing the ungated one makes the chain skip plain payloads entirely again
    chain.remove(Everyone)
    seen.clear()
    chain.invoke((None, {"class": "x"}, "default"), lambda: None)
    assert seen == []
