"""asyncio code enqueues with await (aperform_*), and async tests can drain and run jobs in place."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import sidequest
from sidequest import Job, job, testing
from sidequest.stores.memory import MemoryStore
from sidequest.testing import assert_enqueued

ran: list[str] = []


@job(name="tests.async.send_email", queue="mailers")
def send_email(to: str, subject: str) -> None:
    ran.append(f"email {to}")


@job(name="tests.async.fetch_page")
async def fetch_page(url: str) -> str:
    await asyncio.sleep(0)
    ran.append(f"fetched {url}")
    return url.upper()


class Provision(Job, name="tests.async.Provision", queue="infra"):
    def perform(self, zone: str) -> None:
        ran.append(f"provisioned {zone}")


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


def test_every_awaitable_form_enqueues_like_its_sync_form() -> None:
    # given fake mode and an asyncio program
    testing.fake()

    async def handler() -> list[str | None]:
        # when it enqueues with each awaitable form
        return [
            await send_email.aperform_async("a@example.com", "hi"),
            await send_email.aperform_in(60, "b@example.com", "later"),
            await send_email.aperform_at(datetime.now(UTC) + timedelta(hours=1), "c@example.com", "at"),
            *await send_email.aperform_bulk([("d@example.com", "1"), ("e@example.com", "2")]),
            await send_email.set(queue="critical").aperform_async("f@example.com", "urgent"),
            await Provision.aperform_async("example.com"),
            await Provision.set(retry=3).aperform_in(timedelta(minutes=5), "example.org"),
            *await Provision.aperform_bulk(
                [("a.com",), ("b.com",)], at=datetime.now(UTC) + timedelta(hours=2)
            ),
        ]

    jids = asyncio.run(handler())
    # then each returned a jid and the jobs are there, scheduled where asked
    assert all(isinstance(jid, str) and len(jid) == 24 for jid in jids)
    assert_enqueued(send_email, args=["a@example.com", "hi"], immediately=True)
    assert_enqueued(send_email, args=["b@example.com", "later"], in_=60)
    assert_enqueued(
        send_email, args=["c@example.com", "at"], at=datetime.now(UTC) + timedelta(hours=1), within=5
    )
    assert [p["args"] for p in send_email.jobs][3:5] == [["d@example.com", "1"], ["e@example.com", "2"]]
    assert_enqueued(send_email, args=["f@example.com", "urgent"], queue="critical")
    assert_enqueued(Provision, args=["example.com"], queue="infra", immediately=True)
    assert_enqueued(Provision, args=["example.org"], in_=300, retry=3)
    assert_enqueued(Provision, count=2, at=datetime.now(UTC) + timedelta(hours=2), within=5)


class WaitForTheLoop:
    """A client middleware that holds the push until a task on the event loop has run."""

    options: frozenset[str] = frozenset()
    loop_ran = threading.Event()
    seen: list[bool] = []

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Any) -> Any:
        self.seen.append(self.loop_ran.wait(timeout=30))
        return call_next()


def test_an_awaited_enqueue_leaves_the_event_loop_free_to_run_other_tasks() -> None:
    # given a real store and a push that cannot finish until another task of the loop has run
    sidequest.get_config().use_store(MemoryStore())
    sidequest.get_config().client_middleware.add(WaitForTheLoop)
    WaitForTheLoop.loop_ran.clear()
    WaitForTheLoop.seen.clear()

    async def other_task() -> None:
        WaitForTheLoop.loop_ran.set()

    async def handler() -> str | None:
        push = asyncio.create_task(send_email.aperform_async("a@example.com", "hi"))
        await asyncio.sleep(0)  # the push is in flight
        await other_task()
        return await push

    # when the handler awaits the enqueue
    jid = asyncio.run(handler())
    # then the other task ran while the push waited (a blocking enqueue would have held the loop until
    # the middleware gave up), and the job was stored
    assert WaitForTheLoop.seen == [True]
    [raw] = sidequest.get_config().store.queue_range("mailers", 0, -1)
    assert json.loads(raw)["jid"] == jid


def test_an_async_test_can_drain_fake_jobs_inside_its_running_loop() -> None:
    # given fake-mode jobs, an async one among them, enqueued by an async test
    testing.fake()

    async def async_test() -> int:
        await fetch_page.aperform_async("https://example.com")
        await send_email.aperform_async("a@example.com", "hi")
        # when the test drains while its own loop is running
        return testing.drain_all()

    ran_count = asyncio.run(async_test())
    # then both jobs ran, the async one on a loop of its own
    assert ran_count == 2
    assert sorted(ran) == ["email a@example.com", "fetched https://example.com"]


def test_inline_mode_and_perform_job_run_async_jobs_from_a_running_loop() -> None:
    # given inline mode in an async test
    async def async_test() -> Any:
        with testing.inline():
            fetch_page.perform_async("https://inline.example")
        # and perform_job called directly from the loop
        return testing.perform_job(fetch_page, "https://direct.example")

    # when it runs
    result = asyncio.run(async_test())
    # then both ran and the direct run returned the job's value
    assert ran == ["fetched https://inline.example", "fetched https://direct.example"]
    assert result == "HTTPS://DIRECT.EXAMPLE"


def test_a_job_failing_on_the_helper_loop_raises_in_the_test() -> None:
    @job(name="tests.async.explodes")
    async def explodes() -> None:
        raise ValueError("boom")

    testing.fake()

    async def async_test() -> None:
        await explodes.aperform_async()
        testing.drain(explodes)

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(async_test())
