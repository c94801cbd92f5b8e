"""The FastAPI example's job (sync here; `async def` jobs work the same way)."""

from __future__ import annotations

import os
from pathlib import Path

from sidequest import job


@job(queue="default", retry=3)
def write_greeting(name: str) -> str:
    outbox = Path(os.environ.get("OUTBOX", "outbox"))
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{name}.txt"
    path.write_text(f"Hello, {name}!\n")
    return str(path)
