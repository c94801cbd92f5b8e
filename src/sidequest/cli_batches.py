"""`sidequest batches list` and `sidequest batches show BID`: batches from the operator API.

Tables for people and, with --json, one JSON document for scripts, like the other operator commands.
"""

from __future__ import annotations

import click

from sidequest import api
from sidequest import cli_output as out
from sidequest._time import to_datetime
from sidequest.cli_ops import _reports_errors, _store, json_option, url_option


@click.group()
def batches() -> None:
    """Batches: progress, pending and failed jobs, callbacks."""


@batches.command("list")
@url_option
@json_option
@click.option("--limit", type=int, default=50, show_default=True, help="Most batches shown, newest first.")
@_reports_errors
def list_batches(url: str | None, as_json: bool, limit: int) -> None:
    """The newest batches with their progress."""
    rows = api.BatchSet(_store(url)).list(limit)
    if as_json:
        out.print_json(rows)
        return
    if not rows:
        click.echo("no batches")
        return
    click.echo(
        out.table(
            ["bid", "description", "state", "progress", "total", "pending", "failures", "created"],
            [
                [
                    row.bid,
                    out.short(row.description, 40),
                    row.state,
                    f"{row.progress:.0f}%",
                    row.total,
                    row.pending,
                    row.failures,
                    out.ago(row.created_at),
                ]
                for row in rows
            ],
            numeric=(3, 4, 5, 6),
        )
    )


@batches.command("show")
@click.argument("bid")
@url_option
@json_option
@click.option("--jobs", "jids", type=int, default=20, show_default=True, help="Pending jids listed.")
@_reports_errors
def show(bid: str, url: str | None, as_json: bool, jids: int) -> None:
    """One batch: counts, times, callbacks, failed and pending jobs."""
    status = api.BatchSet(_store(url)).get(bid, jids=jids)
    if as_json:
        out.print_json(status)
        return
    lines = [
        ("bid", status.bid),
        ("description", status.description or "-"),
        ("parent", status.parent or "-"),
        ("total", status.total),
        ("pending", status.pending),
        ("failures", status.failures),
        ("dead", status.dead),
        ("created", out.utc(to_datetime(status.created_at))),
        ("complete", out.utc(to_datetime(status.complete_at))),
        ("success", out.utc(to_datetime(status.success_at))),
        ("death", out.utc(to_datetime(status.death_at))),
    ]
    click.echo(out.table(["field", "value"], lines))
    fired = {"complete": status.complete_at, "success": status.success_at, "death": status.death_at}
    if status.callbacks:
        click.echo("\ncallbacks")
        click.echo(
            out.table(
                ["event", "job", "fired"],
                [
                    [event, name, out.utc(to_datetime(fired.get(event)))]
                    for event, names in sorted(status.callbacks.items())
                    for name in names
                ],
            )
        )
    if status.failed:
        click.echo("\nfailed jobs")
        click.echo(
            out.table(
                ["jid", "error"], [[jid, out.short(error, 100)] for jid, error in status.failed.items()]
            )
        )
    if status.pending_jids:
        click.echo("\npending jobs")
        click.echo("\n".join(status.pending_jids))
