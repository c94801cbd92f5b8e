"""``sidequest periodic list|pause|resume|run NAME``: periodic schedules from a terminal, through sidequest.api.

Like the other operator commands (cli_ops.py), each opens the store without creating it and ends
with one line on our errors.
"""

from __future__ import annotations

import click

from sidequest import cli_output as out
from sidequest.api.periodic import Periodic
from sidequest.cli_ops import _reports_errors, _store, json_option, url_option


@click.group("periodic")
def periodic() -> None:
    """List periodic schedules, pause or resume one, or enqueue its job now."""


@periodic.command("list")
@url_option
@json_option
@_reports_errors
def list_schedules(url: str | None, as_json: bool) -> None:
    """Each schedule with its cron, next run, last run and how its last job ended."""
    found = Periodic(_store(url)).schedules()
    if as_json:
        out.print_json(found)
        return
    if not found:
        click.echo(
            "no periodic schedules (a worker stores them from code and the settings file when it starts)"
        )
        return
    rows = [
        (
            s.name,
            f"{s.cron} ({s.tz})",
            s.job,
            s.queue,
            "paused" if s.paused else "active",
            out.utc(s.next_run),
            out.utc(s.last_run),
            s.last_outcome or ("pending" if s.last_jid else "-"),
        )
        for s in found
    ]
    header = ("NAME", "CRON", "JOB", "QUEUE", "STATE", "NEXT RUN", "LAST RUN", "LAST OUTCOME")
    click.echo(out.table(header, rows))


@periodic.command("pause")
@click.argument("name")
@url_option
@_reports_errors
def pause(name: str, url: str | None) -> None:
    """Stop enqueuing NAME's ticks until it is resumed."""
    Periodic(_store(url)).pause(name)
    click.echo(f"paused {name}")


@periodic.command("resume")
@click.argument("name")
@url_option
@_reports_errors
def resume(name: str, url: str | None) -> None:
    """Enqueue NAME's ticks again (those that fell while paused are not replayed)."""
    schedules = Periodic(_store(url))
    schedules.resume(name)
    click.echo(f"resumed {name}; next run {out.utc(schedules.get(name).next_run)}")


@periodic.command("run")
@click.argument("name")
@url_option
@_reports_errors
def run(name: str, url: str | None) -> None:
    """Enqueue one job of NAME now, out of band; the next tick still fires."""
    jid = Periodic(_store(url)).enqueue_now(name)
    click.echo(f"enqueued {name} now as jid {jid}")
