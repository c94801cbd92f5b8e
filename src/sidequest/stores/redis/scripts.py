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
from redis.exceptions import NoScriptError, ResponseError


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


def command(client: Any, *args: Any) -> Any:
    """Run one command on a connection from client's pool, without redis-py's per-call layers.

    Those layers (command lookup, response callbacks, instrumentation) cost about a third of a round
    trip's CPU here, which the hot paths (push, fetch, ack) pay on every call. Retries and errors are
    redis-py's own: the connection's retry policy, and redis-py exceptions for the caller to translate.
    """
    pool = client.connection_pool
    connection = pool.get_connection()
    try:

        def send_and_read() -> Any:
            connection.send_command(*args)
            return connection.read_response()

        return connection.retry.call_with_retry(send_and_read, lambda _error: connection.disconnect())
    finally:
        pool.release(connection)


def commands(client: Any, *batch: Sequence[Any]) -> list[Any]:
    """Several commands in one write on one pooled connection; their replies in order. An error reply
    comes back as its exception instead of being raised, so the replies after it are still read.
    Never retried: the caller decides (a fetch that may have run must not be sent twice)."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(connection.pack_commands(batch))
        replies: list[Any] = []
        for _ in batch:
            try:
                replies.append(connection.read_response())
            except ResponseError as error:
                replies.append(error)
        return replies
    except BaseException:
        connection.disconnect()  # replies may be left unread on it
        raise
    finally:
        pool.release(connection)


def run(client: Any, script: Script, keys: Sequence[str], args: Sequence[str | int]) -> Any:
    """EVALSHA through command() on the hot paths; on NOSCRIPT (a restarted or flushed server) Script
    loads the source again and retries."""
    try:
        return command(client, "EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return script(keys=keys, args=args, client=client)
