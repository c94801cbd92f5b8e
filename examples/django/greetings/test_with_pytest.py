"""The same check with pytest-django's fixtures and sidequest's pytest plugin (sidequest_fake)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidequest.contrib.django import RUNNER


@pytest.mark.django_db
def test_greeting_is_enqueued_then_written(
    client: Any, settings: Any, tmp_path: Path, sidequest_fake: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.OUTBOX = str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/greet/grace")
    assert response.status_code == 200
    assert [job["wrapped"] for job in sidequest_fake.jobs_for(RUNNER)] == ["greetings.tasks.write_greeting"]
    assert sidequest_fake.drain(RUNNER) == 1
    assert (tmp_path / "grace.txt").read_text() == "Hello, grace!\n"
