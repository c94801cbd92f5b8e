"""The Flask example's job: it runs inside the app context, so it reads app.config like a view."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from sidequest import job


@job(queue="default", retry=3)
def write_greeting(name: str) -> str:
    outbox = Path(current_app.config["OUTBOX"])
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{name}.txt"
    path.write_text(f"Hello, {name}!\n")
    return str(path)
