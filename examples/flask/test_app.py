"""The Flask example's tests: fake mode, and jobs drained inside the app context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from jobs import write_greeting


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("OUTBOX", str(tmp_path))
    return create_app().test_client()


def test_greet(client: FlaskClient, sidequest_fake: Any, tmp_path: Path) -> None:
    client.post("/greet/ada")
    assert sidequest_fake.drain(write_greeting) == 1
    assert (tmp_path / "ada.txt").read_text() == "Hello, ada!\n"
