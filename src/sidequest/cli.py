"""The ``sidequest`` command: ``worker`` (Sidekiq's flags plus --burst) and ``demo``.

A mistake the user must fix (a bad flag, setting, environment value, store URL or -r module) ends the
command with one ``Error:`` line and exit code 2, never a traceback: the traceback would bury the
message and point into sidequest instead of at the user's setting or file.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from sidequest import __version__
from sidequest._require import load_modules
from sidequest.config import Config, apply_sources, env_sources, get_config, parse_queue, settings_from_toml
from sidequest.errors import ConfigError, StoreError

__all__ = ["load_modules", "main"]

logger = logging.getLogger("sidequest")


class UserError(click.ClickException):
    """A mistake in what the user gave us: printed as one ``Error:`` line, exit code 2 (as usage errors)."""

    exit_code = 2


#: Commands imported only when named (or listed by --help): a worker then does not load the operator
#: API, the dashboard or batches, which would cost it start-up time and resident memory.
LAZY_COMMANDS: dict[str, str] = {
    **{
        name: f"sidequest.cli_ops:{name}"
        for name in ("stats", "queues", "queue", "retries", "scheduled", "dead", "busy", "processes")
    },
    "periodic": "sidequest.cli_periodic:periodic",
    "web": "sidequest.web.cli:web",  # the dashboard
    "batches": "sidequest.cli_batches:batches",
}


class _Commands(click.Group):
    """Turns our configuration and store errors, from any command, into one line and exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, StoreError) as exc:
            raise UserError(str(exc)) from None


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="sidequest")
def main() -> None:
    """sidequest: background jobs for Python, in Sidekiq's format."""


@main.command()
@click.option(
    "-r",
    "--require",
    "require",
    multiple=True,
    help="Module defining your jobs, or its .py file (shop/jobs.py is imported as shop.jobs); repeatable.",
)
@click.option("-c", "--concurrency", type=int, help="Jobs run at once per process (default 10).")
@click.option(
    "-q",
    "--queue",
    "queues",
    multiple=True,
    help="Queue to work, optionally with a weight: -q critical,3 -q default.",
)
@click.option(
    "--strict", is_flag=True, default=None, help="Work queues in the order given instead of weighted random."
)
@click.option(
    "-t", "--timeout", type=float, help="Seconds to wait for running jobs on shutdown (default 25)."
)
@click.option("-C", "--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option(
    "--url",
    help="Store URL: redis://..., sqlite:///file.db or memory:// (default: REDIS_URL or ./sidequest.db).",
)
@click.option(
    "--burst",
    is_flag=True,
    help="Exit once the queues and due scheduled jobs are empty (exit 3 if the store stays unreachable).",
)
@click.option(
    "--processes", help="Worker processes to run under one supervisor: a number or 'auto' (one per core)."
)
@click.option(
    "--max-rss-mb",
    type=int,
    help="Restart a worker process whose memory passes this many MB (with --processes).",
)
@click.option("-g", "--tag", help="Tag shown next to this process in the Web UI.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.option(
    "--sidekiq-version",
    type=click.Choice(["6", "7", "8"]),
    help="Sidekiq version sharing this Redis (shapes process records).",
)
def worker(
    require: tuple[str, ...],
    concurrency: int | None,
    queues: tuple[str, ...],
    strict: bool | None,
    timeout: float | None,
    config_file: str | None,
    url: str | None,
    burst: bool,
    processes: str | None,
    max_rss_mb: int | None,
    tag: str | None,
    log_format: str | None,
    log_level: str | None,
    verbose: bool,
    sidekiq_version: str | None,
) -> None:
    """Run jobs from the store until stopped (TERM/INT stop gracefully, TSTP quiets, TTIN dumps threads)."""
    config = get_config()
    sources: list[tuple[str, dict[str, Any]]] = []
    if config_file:
        sources.append((f"config file {config_file}", settings_from_toml(config_file)))
    sources.extend(env_sources())
    flags = {
        "require": require or None,
        "concurrency": concurrency,
        "strict": strict,
        "timeout": timeout,
        "url": url,
        "tag": tag,
        "log_format": log_format,
        "log_level": "DEBUG" if verbose else log_level,
        "sidekiq_version": sidekiq_version,
        "processes": processes,
        "max_rss_mb": max_rss_mb,
    }
    changes: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    if queues:
        changes["queues"] = tuple(parse_queue(spec) for spec in queues)
    sources.append(("command line", changes))
    apply_sources(config.settings, sources)  # validated once, naming where a bad value came from
    config.update(**{key: value for _, values in sources for key, value in values.items()})
    settings = config.settings
    from sidequest import logging as sq_logging

    sq_logging.setup(settings.log_format, settings.log_level)
    load_modules(list(settings.require))
    from sidequest.periodic.scheduler import load as load_schedules

    load_schedules(config)  # a bad periodic schedule stops the worker here, naming the schedule
    if not settings.require:
        logger.warning(
            "no -r given: this worker knows only jobs registered by modules it imported itself; "
            "pass the module that defines your jobs, e.g. -r myapp.jobs"
        )
    _check_store(config, separate_processes=settings.processes > 1)

    from sidequest.runtime.malloc import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts; forked children inherit it

    if settings.processes > 1:
        from sidequest.runtime.supervisor import Supervisor

        sys.exit(Supervisor(config, burst=burst).run())

    from sidequest.runtime import signals
    from sidequest.runtime.launcher import Launcher

    launcher = Launcher(config, burst=burst)
    signals.install(launcher)
    sys.exit(launcher.run())


@main.command()
@click.option(
    "--url", default="sqlite:///sidequest-demo.db", show_default=True, help="Store URL for the demo."
)
@click.option("--seconds", type=float, default=0, help="Stop after this many seconds (0 = until Ctrl-C).")
@click.option(
    "--web-port", type=int, default=7433, show_default=True, help="Dashboard port (0: no dashboard)."
)
def demo(url: str, seconds: float, web_port: int) -> None:
    """Start a worker on the embedded SQLite store, enqueue a realistic mix of sample jobs, serve the dashboard."""
    from sidequest.demo import run_demo

    sys.exit(run_demo(url, seconds, web_port))


def _check_store(config: Config, *, separate_processes: bool) -> None:
    """Open the store once before starting, so a bad URL or a refusal for good is one line, not a retry loop.

    With --processes the supervisor holds no store: the check's connection is closed before the
    children fork, and each child opens its own.
    """
    from sidequest.errors import StoreUnavailable
    from sidequest.runtime.report import permanent_problem

    store = config.store
    try:
        store.ping()
    except StoreUnavailable as exc:
        problem = permanent_problem(store, exc)
        if problem:
            raise UserError(f"cannot start: {problem}") from None
    except StoreError as exc:
        raise UserError(f"cannot start: {exc}") from None
    if separate_processes:
        config.use_store(None)
        store.close()


if __name__ == "__main__":
    main()
