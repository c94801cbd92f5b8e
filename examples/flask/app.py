"""The Flask example: POST /greet/<name> enqueues a job; `flask --app app sidequest worker` runs it.
The dashboard is at /sidequest, behind HTTP basic auth (DASHBOARD_PASSWORD)."""

from __future__ import annotations

import os
import secrets

from flask import Flask, Response, request

from jobs import write_greeting
from sidequest.contrib.flask import Sidequest


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["OUTBOX"] = os.environ.get("OUTBOX", "outbox")
    app.config["SIDEQUEST_CONCURRENCY"] = 2  # any sidequest setting, as SIDEQUEST_<NAME>
    sidequest_ext = Sidequest(app)
    sidequest_ext.mount_dashboard("/sidequest", auth=admin_only)

    @app.post("/greet/<name>")
    def greet(name: str) -> dict[str, str | None]:
        return {"jid": write_greeting.perform_async(name)}

    return app


def admin_only() -> bool | Response:
    """Runs in the app's request context, like a view (Flask-Login's current_user works here too)."""
    expected = os.environ.get("DASHBOARD_PASSWORD", "")
    given = request.authorization.password if request.authorization else None
    if expected and given and secrets.compare_digest(given.encode(), expected.encode()):
        return True
    return Response("Login required", 401, {"WWW-Authenticate": 'Basic realm="sidequest"'})


app = create_app()
