"""The FastAPI example's tests: the endpoint enqueues, and async tests drain inside their own loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import app
from jobs import write_greeting


def test_greet_enqueues_one_job(sidequest_fake: Any) -> None:
    with TestClient(app) as client:
        reply = client.post("/greet/ada")
    [enqueued] = write_greeting.jobs
    assert reply.json() == {"jid": enqueued["jid"]}
    assert enqueued["args"] == ["ada"]


@pytest.mark.anyio
async def test_an_async_test_enqueues_and_drains(
    sidequest_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOX", str(tmp_path))
    await write_greeting.aperform_async("grace")
    assert sidequest_fake.drain(write_greeting) == 1
    assert (tmp_path / "grace.txt").read_text() == "Hello, grace!\n"
