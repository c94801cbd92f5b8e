"""The store's Lua scripts, loaded from the package's ``lua/`` files and run by SHA.

redis-py's Script runs EVALSHA and, on NOSCRIPT (a restarted or flushed server), loads the source
again and retries, so callers never see a missing script.
"""

from __future__ import annotations

from importlib import resources

from redis import Redis
from redis.commands.core import Script


def source(name: str) -> str:
    """The text of lua/<name>.lua, read from the installed package (works from a wheel or a zip)."""
    return (
        resources.files("sidequest.stores.redis")
        .joinpath("lua")
        .joinpath(f"{name}.lua")
        .read_text(encoding="utf-8")
    )


class Scripts:
    """One registered Script per atomic operation; each file's header lists its KEYS and ARGV."""

    def __init__(self, client: Redis) -> None:
        self.fetch: Script = client.register_script(source("fetch"))
        self.requeue: Script = client.register_script(source("requeue"))
        self.recover: Script = client.register_script(source("recover"))
        self.promote: Script = client.register_script(source("promote"))
