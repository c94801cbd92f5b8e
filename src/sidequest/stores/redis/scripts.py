"""The store's Lua scripts, loaded from the package's ``lua/`` files and run by SHA.

redis-py's Script runs EVALSHA and, on NOSCRIPT (a restarted or flushed server), loads the source
again and retries, so callers never see a missing script.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError
from redis.utils import HIREDIS_AVAILABLE

from sidequest.stores.redis.connection import pack
from sidequest.stores.redis.held import HeldConnections, drop_if_closed


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
        self.ack: Script = client.register_script(source("ack"))
        self.requeue: Script = client.register_script(source("requeue"))
        self.recover: Script = client.register_script(source("recover"))
        self.promote: Script = client.register_script(source("promote"))
        self.enqueue_from_set: Script = client.register_script(source("enqueue_from_set"))
        self.kill_from_set: Script = client.register_script(source("kill_from_set"))


def command(held: HeldConnections, *args: Any) -> Any:
    """Run one command on this thread's held connection, without redis-py's per-call layers.

    Those layers (pool checkout, command lookup, response callbacks, instrumentation) cost more CPU
    than the round trip, which the hot paths (push, fetch, ack) pay on every call. Retries and errors
    are redis-py's own: the connection's retry policy, and redis-py exceptions for the caller to
    translate (an error reply is raised; the connection stays in step, as its reply was read whole).
    """
    [reply] = commands(held, args, retry=True)
    if isinstance(reply, Exception):
        raise reply
    return reply


def commands(
    held: HeldConnections, *batch: Sequence[Any], retry: bool = False, spin: bool = False
) -> list[Any]:
    """Several commands in one write on this thread's held connection; their replies in order. An
    error reply comes back as its exception instead of being raised, so the replies after it are
    still read. Resent on a dropped connection only when retry is set, by the connection's retry
    policy: a fetch that may have run must not be sent twice, while a push sent twice at worst
    enqueues a job twice. Anything else that interrupts the call drops the connection, so no reply
    is left unread on it for the next command to take as its own. spin: poll briefly for the reply
    before sleeping (see spin.py), for a caller that waits on this call."""
    lease = held.lease()
    connection = lease.connection
    if held.drop_stale:
        drop_if_closed(connection)
    send_and_read: Callable[[], list[Any]]
    if HIREDIS_AVAILABLE:
        packed = b"".join([pack(tuple(args)) for args in batch])

        def send_and_read() -> list[Any]:
            return lease.exchange(packed, len(batch), spin)

    else:
        packed_list = connection.pack_commands(batch)

        def send_and_read() -> list[Any]:
            connection.send_packed_command(packed_list)
            if spin:
                lease.reply_wait.until_readable(connection._sock)
            replies: list[Any] = []
            for _ in batch:
                try:
                    replies.append(connection.read_response())
                except ResponseError as error:
                    replies.append(error)
            return replies

    try:
        if retry:
            return connection.retry.call_with_retry(  # type: ignore[no-any-return]
                send_and_read, lambda _error: connection.disconnect()
            )
        return send_and_read()
    except BaseException:
        connection.disconnect()  # replies may be left unread on it
        raise


def run(held: HeldConnections, script: Script, keys: Sequence[str], args: Sequence[str | int]) -> Any:
    """EVALSHA through command() on the hot paths; on NOSCRIPT (a restarted or flushed server) Script
    loads the source again and retries."""
    try:
        return command(held, "EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return script(keys=keys, args=args, client=held.client)
