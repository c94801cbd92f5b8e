"""The FastAPI example: POST /greet/{name} enqueues without blocking the event loop.

Run the worker with `sidequest worker -r jobs`, or set SIDEQUEST_IN_PROCESS=1 to run one inside the
app (development).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from jobs import write_greeting
from sidequest.contrib.fastapi import worker_lifespan

in_process = os.environ.get("SIDEQUEST_IN_PROCESS") == "1"
app = FastAPI(lifespan=worker_lifespan if in_process else None)


@app.post("/greet/{name}")
async def greet(name: str) -> dict[str, str | None]:
    jid = await write_greeting.aperform_async(name)
    return {"jid": jid}
