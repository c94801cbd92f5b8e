"""``sidequest periodic list|pause|resume|run NAME``: periodic schedules from a terminal, through sidequest.api."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from sidequest.config import get_config
from sidequest.errors import SidequestError

URL_HELP = "Store URL (default: SIDEQUEST_URL / REDIS_URL / ./sidequest.db)."


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _use(url: str | None) -> None:
    if url:
        get_config().update(url=url)


@click.group("periodic")
def periodic() -> None:
    """List periodic schedules, pause or resume one, or enqueue its job now."""


@periodic.command("list")
@click.option("--url", help=URL_HELP)
def list_schedules(url: str | None) -> None:
    """Each schedule with its cron, next run, last run and how its last job ended."""
    from sidequest.api import periodic as api

    _use(url)
    found = api.schedules()
    if not found:
        click.echo(
            "no periodic schedules (a worker syncs them from code and the settings file when it starts)"
        )
        return
    header = ("NAME", "CRON", "JOB", "QUEUE", "STATE", "NEXT RUN", "LAST RUN", "LAST OUTCOME")
    rows = [
        (
            s.name,
            f"{s.cron} ({s.tz})",
            s.job,
            s.queue,
            "paused" if s.paused else "active",
            _when(s.next_run),
            _when(s.last_run),
            s.last_outcome or ("pending" if s.last_jid else "-"),
        )
        for s in found
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _act(action: str, name: str, url: str | None) -> None:
    from sidequest.api import periodic as api

    _use(url)
    try:
        if action == "pause":
            api.pause(name)
            click.echo(f"paused {name}")
        elif action == "resume":
            api.resume(name)
            click.echo(f"resumed {name}; next run {_when(api.get(name).next_run)}")
        else:
            jid = api.enqueue_now(name)
            click.echo(f"enqueued {name} now as jid {jid}")
    except SidequestError as exc:
        raise click.ClickException(str(exc)) from None


@periodic.command("pause")
@click.argument("name")
@click.option("--url", help=URL_HELP)
def pause(name: str, url: str | None) -> None:
    """Stop enqueuing NAME's ticks until it is resumed."""
    _act("pause", name, url)


@periodic.command("resume")
@click.argument("name")
@click.option("--url", help=URL_HELP)
def resume(name: str, url: str | None) -> None:
    """Enqueue NAME's ticks again (those that fell while paused are not replayed)."""
    _act("resume", name, url)


@periodic.command("run")
@click.argument("name")
@click.option("--url", help=URL_HELP)
def run(name: str, url: str | None) -> None:
    """Enqueue one job of NAME now, out of band; the next tick still fires."""
    _act("run", name, url)
