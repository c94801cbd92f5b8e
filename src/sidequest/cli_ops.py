"""Operator commands on the operator API: stats, queues, queue, retries, scheduled, dead, busy, processes.

Each prints aligned tables for people and, with --json, one JSON document for scripts. Each opens
the store without creating it, so a command run in the wrong folder says "no store at ..." instead
of showing an empty new store.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

import click

from sidequest import api
from sidequest import cli_output as out
from sidequest.errors import ConfigError, SidequestError, StoreError, StoreUnavailable
from sidequest.stores import Store

P = ParamSpec("P")
R = TypeVar("R")

url_option = click.option("--url", help="Store URL (default: SIDEQUEST_URL / REDIS_URL / ./sidequest.db).")
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables."
)


#: Exit statuses of every operator command (docs/operations.md, "Exit status"). 0: done.
#: 1: the command ran but did not do it: the job was already gone when acted on.
EXIT_NOT_DONE = 1
#: 2: fix something and run it again: a flag, the URL, a setting, no store there, refused credentials,
#: a jid, queue, process, batch or schedule that is not there (click's own usage errors exit 2 too).
EXIT_USAGE = 2
#: 3: the store could not be reached; try again later (as a --burst worker that gives up on it).
EXIT_UNREACHABLE = 3


class OperatorError(click.ClickException):
    """One ``Error:`` line on stderr, no traceback, exit status 2: something to fix."""

    exit_code = EXIT_USAGE


class StoreUnreachable(OperatorError):
    exit_code = EXIT_UNREACHABLE


class NotDone(OperatorError):
    exit_code = EXIT_NOT_DONE


_ERRORS: dict[int, type[OperatorError]] = {
    EXIT_USAGE: OperatorError,
    EXIT_UNREACHABLE: StoreUnreachable,
    EXIT_NOT_DONE: NotDone,
}


def exit_status(exc: SidequestError, store: Store | None = None) -> int:
    """EXIT_UNREACHABLE for an outage worth waiting out, EXIT_USAGE for what fails until fixed."""
    if isinstance(exc, StoreUnavailable):
        from sidequest.runtime.report import permanent_problem

        # a host name that does not resolve is a typo in the URL far more often than a DNS blip
        return EXIT_USAGE if store is not None and permanent_problem(store, exc) else EXIT_UNREACHABLE
    if isinstance(exc, ConfigError | StoreError | LookupError):
        return EXIT_USAGE
    return EXIT_NOT_DONE


def _reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Our errors (no store, no such job or process, store down) end the command with one line
    and the exit status for them (exit_status)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SidequestError as exc:
            context = click.get_current_context(silent=True)
            store = None if context is None else context.meta.get(_OPENED)
            raise _ERRORS[exit_status(exc, store)](" ".join(str(exc).split())) from None

    return wrapper


def _store(url: str | None) -> Store:
    """The store --url names; on a subcommand it may be given to the group (`retries --url X show J`)."""
    context = click.get_current_context()
    store = api.connect(url or context.meta.get(_GROUP_URL))
    context.meta[_OPENED] = store
    return store


#: ctx.meta key under which a group passes its --url to subcommands (meta is shared by the chain).
_GROUP_URL = "sidequest.url"
#: ctx.meta key of the store a command opened, for telling an outage from a typo in its URL.
_OPENED = "sidequest.store"


def _known_queue(name: str, store: Store) -> None:
    """Refuse a queue name the store has never seen (a typo would otherwise show an empty queue)."""
    known = store.queue_names()
    if name not in known and name not in store.paused_queues():
        listed = ", ".join(known) or "none yet"
        raise OperatorError(
            f"no queue {name!r} in this store (its queues: {listed}); `sidequest queues` lists them"
        )


# ---- stats and queues ----------------------------------------------------------------------------
@click.command()
@url_option
@json_option
@_reports_errors
def stats(url: str | None, as_json: bool) -> None:
    """Counters, queues and live processes of a store (and jobs held by dead processes)."""
    store = _store(url)
    stats_api = api.Stats(store)
    record = stats_api.read()
    info = stats_api.store_info()
    queues = [queue.summary() for queue in api.Queue.all(store)]
    processes = api.ProcessSet(store).list()
    held = api.HeldByDead(store).list(limit=20) if record.held_by_dead else []
    if as_json:
        out.print_json(
            {"store": info, "stats": record, "queues": queues, "processes": processes, "held_by_dead": held}
        )
        return
    click.echo(f"store: {info.get('path') or info.get('url') or info['store']}")
    counters = [
        ("processed", record.processed),
        ("failed", record.failed),
        ("enqueued", record.enqueued),
        ("scheduled", record.scheduled),
        ("retries", record.retries),
        ("dead", record.dead),
        ("processes", record.processes),
        ("busy", record.busy),
    ]
    click.echo(out.table(["counter", "value"], counters, numeric=[1]))
    click.echo(f"default queue latency: {out.duration(record.default_latency)}")
    if record.held_by_dead:
        click.echo(
            f"held by dead processes: {record.held_by_dead:,} job(s), waiting for recovery "
            "(a live worker pushes them back to their queues once the dead process's heartbeat has expired)"
        )
        click.echo(
            out.table(
                ["process", "queue", "class", "jid"],
                [(h.identity, h.queue, h.job.display_class, h.job.jid) for h in held],
            )
        )
    if queues:
        click.echo("")
        click.echo(_queue_table(queues))
    if processes:
        click.echo("")
        click.echo(_process_table(processes))


def _queue_table(queues: Sequence[api.QueueSummary]) -> str:
    rows = [(q.name, q.size, out.duration(q.latency), "paused" if q.paused else "") for q in queues]
    return out.table(["queue", "size", "latency", "state"], rows, numeric=[1, 2])


@click.command()
@url_option
@json_option
@_reports_errors
def queues(url: str | None, as_json: bool) -> None:
    """Every queue with its size, latency and paused state."""
    summaries = [queue.summary() for queue in api.Queue.all(_store(url))]
    if as_json:
        out.print_json(summaries)
    elif summaries:
        click.echo(_queue_table(summaries))
    else:
        click.echo("no queues")


@click.group()
def queue() -> None:
    """List, pause, resume or clear one queue."""


def _queue_action(
    name: str, help_text: str, act: Callable[[api.Queue], str], *, any_name: bool = False
) -> None:
    """A `queue NAME` action; only any_name ones accept a queue the store has not seen (exit 2)."""

    @queue.command(name=name, help=help_text)
    @click.argument("queue_name", metavar="NAME")
    @url_option
    @json_option
    @_reports_errors
    def command(queue_name: str, url: str | None, as_json: bool) -> None:
        store = _store(url)
        if not any_name:
            _known_queue(queue_name, store)
        target = api.Queue(queue_name, store)
        message = act(target)
        if as_json:
            out.print_json({"queue": queue_name, "result": message, "summary": target.summary()})
        else:
            click.echo(message)


def _pause(target: api.Queue) -> str:
    target.pause()
    return f"queue {target.name} paused: workers take none of its {target.size():,} job(s) until resumed"


def _resume(target: api.Queue) -> str:
    target.resume()
    return f"queue {target.name} resumed ({target.size():,} job(s) waiting)"


def _clear(target: api.Queue) -> str:
    return f"queue {target.name} cleared: {target.clear():,} job(s) deleted"


_queue_action(
    "pause",
    "Stop workers taking this queue's jobs (pushes still land) until resumed; a queue may be paused "
    "before its first job.",
    _pause,
    any_name=True,
)
_queue_action("resume", "Let workers take this queue's jobs again.", _resume)
_queue_action("clear", "Delete every job of this queue.", _clear)


@queue.command(name="jobs")
@click.argument("queue_name", metavar="NAME")
@click.option("--page", default=1, show_default=True, help="Page number (newest jobs on page 1).")
@click.option("--per-page", default=25, show_default=True, help="Jobs per page.")
@url_option
@json_option
@_reports_errors
def queue_jobs(queue_name: str, page: int, per_page: int, url: str | None, as_json: bool) -> None:
    """List a queue's jobs, newest first: jid, class, args and how long each has waited."""
    store = _store(url)
    _known_queue(queue_name, store)
    listing = api.Queue(queue_name, store).page(page, per_page)
    if as_json:
        out.print_json(listing)
        return
    if not listing.items:
        click.echo(
            f"queue {queue_name}: " + ("empty" if listing.total == 0 else f"page {page} is past the end")
        )
        return
    rows = [(j.jid, j.display_class, out.short(j.args), out.ago(j.enqueued_at)) for j in listing.items]
    click.echo(out.table(["jid", "class", "args", "enqueued"], rows))
    click.echo(f"page {listing.page} of {listing.pages} ({listing.total:,} in {queue_name})")


# ---- sorted sets -------------------------------------------------------------------------------
def _set_group(name: str, job_set: type[api.JobSet], help_text: str, retry_word: str) -> click.Group:
    """retries / scheduled / dead: list (the default), show, retry, delete, kill, retry-all, delete-all."""

    @click.group(name=name, help=help_text, invoke_without_command=True)
    @url_option
    @json_option
    @click.pass_context
    def group(ctx: click.Context, url: str | None, as_json: bool) -> None:
        ctx.meta[_GROUP_URL] = url
        if ctx.invoked_subcommand is None:
            ctx.invoke(list_entries, url=url, as_json=as_json)

    @group.command(name="list")
    @click.option("--page", default=1, show_default=True, help="Page number (newest entries on page 1).")
    @click.option("--per-page", default=25, show_default=True, help="Entries per page.")
    @click.option("--class", "job_class", help="Only jobs of this class.")
    @click.option("--grep", "text", default="", help="Only jobs whose args, error or jid contain this text.")
    @url_option
    @json_option
    @_reports_errors
    def list_entries(
        page: int = 1,
        per_page: int = 25,
        job_class: str | None = None,
        text: str = "",
        url: str | None = None,
        as_json: bool = False,
    ) -> None:
        """List entries, newest first: class, args, error and age."""
        target = job_set(_store(url))
        if job_class or text:
            found = target.search(text, job_class=job_class)
            start = (page - 1) * per_page
            listing = api.Page(found[start : start + per_page], page, per_page, len(found))
        else:
            listing = target.page(page, per_page)
        if as_json:
            out.print_json(listing)
            return
        if not listing.items:
            click.echo(f"{name}: none" if listing.total == 0 else f"{name}: page {page} is past the end")
            return
        when = {"retries": "next retry", "scheduled": "runs", "dead": "died"}[name]
        rows = [
            (
                e.jid,
                e.display_class,
                out.short(e.args, 40),
                out.short(f"{e.error_class}: {e.error_message}", 50) if e.error_class else "",
                out.ago(e.at),
                out.ago(e.created_at),
            )
            for e in listing.items
        ]
        click.echo(out.table(["jid", "class", "args", "error", when, "age"], rows))
        click.echo(f"page {listing.page} of {listing.pages} ({listing.total:,} in {name})")

    @group.command()
    @click.argument("jid")
    @url_option
    @json_option
    @_reports_errors
    def show(jid: str, url: str | None, as_json: bool) -> None:
        """Everything about one entry: args, error, backtrace, retry count, times."""
        entry = job_set(_store(url)).get(jid)
        if as_json:
            out.print_json(entry)
            return
        rows: list[tuple[str, object]] = [
            ("jid", entry.jid),
            ("key", entry.key),
            ("class", entry.display_class),
            ("queue", entry.queue),
            ("args", json.dumps(entry.args, ensure_ascii=False)),
            (
                {"retry": "next retry", "schedule": "runs at", "dead": "died at"}[entry.set_name],
                out.utc(entry.at),
            ),
            ("created at", out.utc(entry.created_at)),
            ("enqueued at", out.utc(entry.enqueued_at)),
            ("retry count", "-" if entry.retry_count is None else entry.retry_count),
            ("failed at", out.utc(entry.failed_at)),
            ("retried at", out.utc(entry.retried_at)),
            ("error", f"{entry.error_class}: {entry.error_message}" if entry.error_class else "-"),
        ]
        click.echo(out.table(["field", "value"], rows))
        if entry.backtrace:
            click.echo("backtrace:")
            for line in entry.backtrace:
                click.echo(f"  {out.cell(line)}")

    def _one(
        action: str, help_line: str, act: Callable[[api.JobSet, api.SortedEntry], bool], done: str
    ) -> None:
        @group.command(name=action, help=help_line)
        @click.argument("jid")
        @url_option
        @json_option
        @_reports_errors
        def command(jid: str, url: str | None, as_json: bool) -> None:
            target = job_set(_store(url))
            entry = target.get(jid)
            moved = act(target, entry)
            name = out.cell(entry.display_class)
            message = (
                f"{name} {out.cell(entry.jid)} {done}" if moved else f"{out.cell(entry.jid)} was already gone"
            )
            if as_json:
                out.print_json({"jid": entry.jid, "action": action, "done": moved})
            else:
                click.echo(message)
            if not moved:
                sys.exit(EXIT_NOT_DONE)

    def _all(action: str, help_line: str, act: Callable[[api.JobSet], int], done: str) -> None:
        @group.command(name=action, help=help_line)
        @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
        @url_option
        @json_option
        @_reports_errors
        def command(yes: bool, url: str | None, as_json: bool) -> None:
            target = job_set(_store(url))
            size = target.size()
            if not yes and not as_json and sys.stdin.isatty():
                click.confirm(f"{action} {size:,} job(s) in {name}?", abort=True)
            count = act(target)
            if as_json:
                out.print_json({"action": action, "count": count})
            else:
                click.echo(f"{count:,} job(s) {done}")

    _one("retry", f"{retry_word} one job now (by jid or key).", lambda s, e: s.retry(e), "enqueued")
    _one("delete", "Delete one job (by jid or key).", lambda s, e: s.delete(e), "deleted")
    _all("retry-all", f"{retry_word} every job now.", lambda s: s.retry_all(), "enqueued")
    _all("delete-all", "Delete every job.", lambda s: s.delete_all(), "deleted")
    if name != "dead":
        _one("kill", "Move one job to the dead set.", lambda s, e: s.kill(e), "moved to the dead set")
        _all("kill-all", "Move every job to the dead set.", lambda s: s.kill_all(), "moved to the dead set")
    return group


retries = _set_group("retries", api.RetrySet, "Failed jobs waiting for their next try.", "Retry")
scheduled = _set_group("scheduled", api.ScheduledSet, "Jobs to run later.", "Enqueue")
dead = _set_group("dead", api.DeadSet, "Jobs out of retries (the morgue).", "Retry")


# ---- processes and running jobs -------------------------------------------------------------------
def _process_table(processes: Sequence[api.ProcessInfo]) -> str:
    rows = [
        (
            p.identity,
            p.tag,
            ",".join(f"{q}:{w}" if w else q for q, w in p.weights.items()) or ",".join(p.queues),
            f"{p.busy}/{p.concurrency}",
            f"{p.rss_kb / 1024:.0f} MB",
            out.ago(p.beat),
            out.ago(p.started_at),
            "quiet" if p.quiet else "",
        )
        for p in processes
    ]
    return out.table(["process", "tag", "queues", "busy", "rss", "beat", "started", "state"], rows)


@click.command()
@url_option
@json_option
@_reports_errors
def busy(url: str | None, as_json: bool) -> None:
    """Jobs running now: process, thread, queue, class, args and run time."""
    running = api.WorkSet(_store(url)).list()
    if as_json:
        out.print_json(running)
        return
    if not running:
        click.echo("no jobs running")
        return
    rows = [
        (
            r.identity,
            r.thread,
            r.queue,
            r.job.display_class,
            out.short(r.job.args),
            r.job.jid,
            out.ago(r.started_at),
        )
        for r in running
    ]
    click.echo(out.table(["process", "thread", "queue", "class", "args", "jid", "started"], rows))


@click.group(invoke_without_command=True)
@url_option
@json_option
@click.pass_context
@_reports_errors
def processes(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Live processes with their queues, load, memory and quiet state; quiet or stop them."""
    ctx.meta[_GROUP_URL] = url
    if ctx.invoked_subcommand is not None:
        return
    listing = api.ProcessSet(_store(url)).list()
    if as_json:
        out.print_json(listing)
    elif listing:
        click.echo(_process_table(listing))
    else:
        click.echo("no live processes")


def _signal_command(action: str, help_text: str) -> None:
    @processes.command(name=action, help=help_text)
    @click.argument("identity", required=False)
    @click.option("--all", "every", is_flag=True, help="Every live process.")
    @url_option
    @_reports_errors
    def command(identity: str | None, every: bool, url: str | None) -> None:
        if bool(identity) == every:
            raise click.UsageError(
                f"give one process IDENTITY (see `sidequest processes`) or --all to {action}"
            )
        target = api.ProcessSet(_store(url))
        if every:
            done = target.quiet_all() if action == "quiet" else target.stop_all()
            click.echo(f"asked {len(done)} process(es) to {action}; each acts at its next heartbeat")
        else:
            assert identity is not None
            process = target.quiet(identity) if action == "quiet" else target.stop(identity)
            click.echo(f"asked {out.cell(process.identity)} to {action}; it acts at its next heartbeat")


_signal_command("quiet", "Stop a process taking new jobs (it finishes running ones).")
_signal_command("stop", "Shut a process down gracefully.")

COMMANDS: list[click.Command] = [stats, queues, queue, retries, scheduled, dead, busy, processes]


def register(group: click.Group) -> None:
    """Add the operator commands to the `sidequest` command."""
    for command in COMMANDS:
        group.add_command(command)
