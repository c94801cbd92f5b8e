"""The Flask extension in-process: settings from app.config, jobs inside the app context, the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, current_app
from flask.testing import FlaskCliRunner

from sidequest import job, registry, testing
from sidequest.config import get_config
from sidequest.contrib.flask import Sidequest


@job(name="tests.contrib.flask.app_name")
def app_name() -> str:
    return str(current_app.name)


@pytest.fixture
def inline() -> Iterator[None]:
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
