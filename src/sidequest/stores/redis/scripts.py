"""The store's Lua scripts, loaded from the package's ``lua/`` files and run by SHA.

redis-py's Script runs EVALSHA and, on NOSCRIPT (a restarted or flushed server), loads the source
again and retries, so callers never see a missing script.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError


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
        self.push: Script = client.register_script(source("push"))
        self.fetch: Script = client.register_script(source("fetch"))
        self.ack: Script = client.register_script(source("ack"))
        self.requeue: Script = client.register_script(source("requeue"))
        self.recover: Script = client.register_script(source("recover"))
        self.promote: Script = client.register_script(source("promote"))


def run(client: Any, script: Script, keys: Sequence[str], args: Sequence[str | int]) -> Any:
    """EVALSHA straight on client (a few microseconds less than Script.__call__ on the hot paths);
    on NOSCRIPT (a restarted or flushed server) Script loads the source again and retries."""
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return script(keys=keys, args=args, client=client)
