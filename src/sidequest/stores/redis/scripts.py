"""The store's Lua scripts, loaded from the package's ``lua/`` files; transport.run runs them by SHA.

Each file is one atomic operation, headed by its KEYS and ARGV.
"""

from __future__ import annotations

from importlib import resources

from redis import Redis
from redis.commands.core import Script


def source(name: str) -> str:
    """The text of lua/<name>.lua, read from the installed package (works from a wheel or a zip).

    A line ``-- include: <library>`` is replaced by the text of lua/<library>.lua, so helpers two
    scripts need (json_text.lua) are written once; Redis runs each script as one text.
    """
    lines = []
    for line in _read(name).splitlines(keepends=True):
        if line.startswith(_INCLUDE):
            lines.append(_read(line[len(_INCLUDE) :].split()[0]))
        else:
            lines.append(line)
    return "".join(lines)


_INCLUDE = "-- include: "


def _read(name: str) -> str:
    return (
        resources.files("sidequest.stores.redis")
        .joinpath("lua")
        .joinpath(f"{name}.lua")
        .read_text(encoding="utf-8")
    )


class Scripts:
    """One registered Script per lua/ file (its SHA, and its source for a server that lost it)."""

    def __init__(self, client: Redis) -> None:
        def load(name: str) -> Script:
            return client.register_script(source(name))

        self.fetch = load("fetch")
        self.ack = load("ack")
        self.requeue = load("requeue")
        self.recover = load("recover")
        self.promote = load("promote")
        self.enqueue_from_set = load("enqueue_from_set")
        self.kill_from_set = load("kill_from_set")
        self.periodic_sync = load("periodic_sync")
        self.periodic_claim = load("periodic_claim")
        self.periodic_pause = load("periodic_pause")
        self.periodic_outcome = load("periodic_outcome")
        self.unique_unlock = load("unique_unlock")
        self.batch_create = load("batch_create")
        self.batch_add = load("batch_add")
        self.batch_done = load("batch_done")
