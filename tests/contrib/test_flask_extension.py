"""The Flask extension in-process: settings from app.config, jobs inside the app context, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, current_app, session
from flask.testing import FlaskCliRunner

from sidequest import enqueue as sidequest_enqueue
from sidequest import job, registry, testing
from sidequest.config import get_config
from sidequest.contrib.flask import Sidequest


@job(name="tests.contrib.flask.app_name")
def app_name() -> str:
    return str(current_app.name)


@pytest.fixture
def inline() -> Iterator[None]:
    testing.clear_all()  # what earlier tests ran inline is not this test's
    with testing.inline():
        yield
    testing.clear_all()


def make_app() -> Flask:
    app = Flask("greeter")
    app.config.update(SIDEQUEST_CONCURRENCY=3, SIDEQUEST_QUEUES=["critical,2", "default"])
    return app


def test_settings_come_from_app_config() -> None:
    Sidequest(make_app())
    settings = get_config().settings
    assert settings.concurrency == 3
    assert settings.queues == (("critical", 2), ("default", 1))


def test_init_app_serves_an_app_factory_and_jobs_run_in_its_context(inline: None) -> None:
    # given an extension created before the app, as in an app factory
    extension = Sidequest()
    app = make_app()
    extension.init_app(app)
    assert app.extensions["sidequest"] is extension
    # when a job that needs current_app runs outside any request
    app_name.perform_async()
    # then it ran inside the app's context
    [ran] = testing.runner.performed
    assert ran["class"] == "tests.contrib.flask.app_name"


def test_without_the_extension_a_job_has_no_app_context(inline: None) -> None:
    with pytest.raises(RuntimeError, match="application context"):
        app_name.perform_async()


def test_the_worker_command_is_added_to_flask_cli() -> None:
    app = make_app()
    Sidequest(app)
    result = FlaskCliRunner(app).invoke(args=["sidequest", "worker", "--help"])
    assert result.exit_code == 0, result.output
    assert "--concurrency" in result.output and "--burst" in result.output


def teardown_module() -> None:
    registry.unregister("tests.contrib.flask.app_name")


def dashboard_app(tmp_path: Path) -> Flask:
    import sidequest

    sidequest.configure(url=f"sqlite:///{tmp_path / 'sidequest.db'}")
    app = make_app()
    app.secret_key = "tests-only"

    @app.post("/login")
    def login() -> str:
        session["admin"] = True
        return "ok"

    extension = Sidequest(app)
    extension.mount_dashboard("/sidequest", auth=lambda: session.get("admin") is True)
    return app


def test_the_dashboard_is_served_under_a_prefix_to_whom_auth_lets_in(tmp_path: Path) -> None:
    # given an app with the dashboard mounted behind a session check, and a job queued
    app = dashboard_app(tmp_path)
    sidequest_enqueue("SomeJob", queue="mailers")
    client = app.test_client()
    # when a visitor without the session opens it, they are refused
    assert client.get("/sidequest/").status_code == 403
    # when they log in, the dashboard shows the queue, with its links under the prefix
    client.post("/login")
    page = client.get("/sidequest/queues")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "mailers" in text and "/sidequest/static/" in text
    # and the app's own routes are untouched
    assert client.post("/login").get_data(as_text=True) == "ok"
