"""Flask: ``Sidequest(app)`` (or ``init_app`` for app factories) reads SIDEQUEST_* from app.config,
runs every job inside an app context, and adds ``flask sidequest worker``.

    app.config["SIDEQUEST_URL"] = "redis://localhost:6379/0"   # any sidequest setting, upper-cased
    sidequest_ext = Sidequest(app)

Settings: each ``SIDEQUEST_<NAME>`` key of app.config sets sidequest's ``<name>`` setting
(SIDEQUEST_URL, SIDEQUEST_CONCURRENCY, SIDEQUEST_QUEUES, ...). Environment variables still win in the
worker, and its flags win over both.

``flask sidequest worker [flags of sidequest worker]`` runs the worker with the app loaded, so the
jobs imported by the app are registered and each job sees ``current_app`` (Flask-SQLAlchemy sessions,
app.config, extensions), as a request would.

``sidequest_ext.mount_dashboard("/sidequest", auth=is_admin)`` serves the dashboard (an ASGI app, run
through a2wsgi) under a prefix of the app; auth is called inside a request context of the app, so it
can read ``flask.session`` or Flask-Login's ``current_user``. Needs the ``web`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from sidequest.config import get_config

SETTING_PREFIX = "SIDEQUEST_"


class AppContext:
    """Server middleware: run each job inside the Flask app's context (and tear it down after)."""

    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, app: Flask) -> None:
        self.app = app

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        with self.app.app_context():
            return call_next()


class Sidequest:
    """The Flask extension; ``app.extensions["sidequest"]`` holds it once initialised."""

    def __init__(self, app: Flask | None = None) -> None:
        self.app: Flask | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        self.app = app
        app.extensions["sidequest"] = self
        settings = settings_from_app_config(app.config)
        config = get_config()
        if settings:
            config.update(**settings)
        config.server_middleware.add(AppContext, app)
        app.cli.add_command(sidequest_cli)

    def mount_dashboard(
        self, prefix: str = "/sidequest", *, auth: Callable[[], Any] | None = None, **options: Any
    ) -> None:
        """Serve sidequest's dashboard under prefix. auth() runs in the app's request context and
        returns True (let in), False (403) or a response to send instead (e.g. a redirect to login).
        options go to ``sidequest.web.create_app`` (read_only, secret_key, ...)."""
        from a2wsgi import ASGIMiddleware
        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from werkzeug.wrappers import Response

        from sidequest.web import create_app

        app = self.app
        if app is None:
            raise RuntimeError("call init_app(app) before mount_dashboard()")
        asgi: Any = create_app(options.pop("config_or_store", None) or get_config(), **options)
        dashboard: Any = ASGIMiddleware(asgi)

        def guarded(environ: dict[str, Any], start_response: Any) -> Any:
            if auth is not None:
                with app.request_context(environ):
                    verdict = auth()
                    if verdict is not True:
                        refusal = verdict if verdict is not False else Response("Forbidden", status=403)
                        return app.make_response(refusal)(environ, start_response)
            return dashboard(environ, start_response)

        mounted: Any = DispatcherMiddleware(app.wsgi_app, {"/" + prefix.strip("/"): guarded})
        app.wsgi_app = mounted  # type: ignore[method-assign]


def settings_from_app_config(app_config: Any) -> dict[str, Any]:
    """sidequest settings named by SIDEQUEST_* keys of app.config."""
    return {
        key[len(SETTING_PREFIX) :].lower(): value
        for key, value in app_config.items()
        if key.startswith(SETTING_PREFIX)
    }


@click.group("sidequest")
def sidequest_cli() -> None:
    """sidequest: background jobs."""


@sidequest_cli.command(
    "worker",
    # every argument, --help included, goes to `sidequest worker`
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.argument("worker_args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def worker_command(worker_args: tuple[str, ...]) -> None:
    """Run a worker with this app loaded (flags of `sidequest worker`; --help lists them)."""
    from sidequest.cli import worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    chain = get_config().server_middleware
    if AppContext not in chain:
        chain.add(AppContext, app)
    worker.main(args=list(worker_args), prog_name="flask sidequest worker")


__all__ = ["AppContext", "Sidequest", "settings_from_app_config", "sidequest_cli"]
