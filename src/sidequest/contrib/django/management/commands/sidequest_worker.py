"""``python manage.py sidequest_worker [sidequest worker flags]``: the worker under Django's settings.

Every flag is ``sidequest worker``'s (-c, -q name[,weight], --strict, -t, --burst, --processes, ...):
the arguments go to that command unchanged. Without -q (and without ``queues`` in SIDEQUEST), the
queues of every sidequest backend in TASKS are worked, each with its priority bands (NAME.high,4
NAME,2 NAME.low,1; with --strict in that order).
"""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sidequest.config import Settings, get_config


class Command(BaseCommand):  # type: ignore[misc]
    help = "Run a sidequest worker for this project's Django tasks and sidequest jobs (flags of `sidequest worker`)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Django's parser would reject sidequest's flags (and read -v as its own verbosity): every
        argument is handed to `sidequest worker` as given, also through call_command()."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def parse_args(args: list[str] | None = None, namespace: Any = None) -> argparse.Namespace:
            return argparse.Namespace(
                worker_args=list(args or []),
                verbosity=1,
                settings=None,
                pythonpath=None,
                traceback=False,
                no_color=False,
                force_color=False,
                skip_checks=True,
            )

        parser.parse_args = parse_args
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        # manage.py has already applied --settings / --pythonpath; the rest are sidequest's flags
        self._run(_without_django_options(argv[2:]))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._run(list(options.get("worker_args") or []))
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise CommandError(f"sidequest worker exited with {exc.code}") from None

    def _run(self, args: list[str]) -> None:
        from sidequest.cli import worker

        from ...runner import prepare_worker

        prepare_worker()
        if not any(arg in ("-q", "--queue") or arg.startswith(("-q", "--queue=")) for arg in args):
            args = [*_default_queue_flags(), *args]
        worker.main(args=args, prog_name="manage.py sidequest_worker")


def _without_django_options(args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("--settings", "--pythonpath"):
            skip = True
            continue
        if arg.startswith(("--settings=", "--pythonpath=")):
            continue
        kept.append(arg)
    return kept


def _default_queue_flags() -> list[str]:
    """-q flags for the sidequest backends' queues with their priority bands, unless SIDEQUEST sets queues."""
    if get_config().settings.queues != Settings().queues:
        return []
    from ...backend import sidequest_queue

    names: list[str] = []
    for params in getattr(settings, "TASKS", {}).values():
        if params.get("BACKEND") != "sidequest.contrib.django.SidequestBackend":
            continue
        for queue in params.get("QUEUES") or ["default"]:
            names.extend([f"{sidequest_queue(queue, 1)},4", f"{queue},2", f"{sidequest_queue(queue, -1)},1"])
    flags: list[str] = []
    for name in dict.fromkeys(names) or ["default"]:
        flags.extend(["-q", name])
    return flags
