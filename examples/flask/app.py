"""The Flask example: POST /greet/<name> enqueues a job; `flask --app app sidequest worker` runs it."""

from __future__ import annotations

import os

from flask import Flask

from jobs import write_greeting
from sidequest.contrib.flask import Sidequest


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["OUTBOX"] = os.environ.get("OUTBOX", "outbox")
    app.config["SIDEQUEST_CONCURRENCY"] = 2  # any sidequest setting, as SIDEQUEST_<NAME>
    Sidequest(app)

    @app.post("/greet/<name>")
    def greet(name: str) -> dict[str, str | None]:
        return {"jid": write_greeting.perform_async(name)}

    return app


app = create_app()
