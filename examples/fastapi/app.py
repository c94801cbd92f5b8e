"""The FastAPI example: POST /greet/{name} enqueues without blocking the event loop.

Run the worker with `sidequest worker -r jobs`, or set SIDEQUEST_IN_PROCESS=1 to run one inside the
app (development). The dashboard is at /sidequest, behind HTTP basic auth (DASHBOARD_PASSWORD).
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from jobs import write_greeting
from sidequest.contrib.fastapi import mount_dashboard, worker_lifespan

in_process = os.environ.get("SIDEQUEST_IN_PROCESS") == "1"
app = FastAPI(lifespan=worker_lifespan if in_process else None)


@app.post("/greet/{name}")
async def greet(name: str) -> dict[str, str | None]:
    jid = await write_greeting.aperform_async(name)
    return {"jid": jid}


basic = HTTPBasic()


def require_admin(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> str:
    """The app's own auth dependency; the dashboard sits behind it."""
    expected = os.environ.get("DASHBOARD_PASSWORD", "")
    if not expected or not secrets.compare_digest(credentials.password.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": "Basic"})
    return credentials.username


mount_dashboard(app, "/sidequest", dependencies=[Depends(require_admin)])
