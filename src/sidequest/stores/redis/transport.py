"""How the Redis store talks on a held connection (held.py): one command, a batch, a Lua script.

The hot paths (push, fetch, ack) and every Lua script go through here, on the calling thread's held
connection, without redis-py's per-call layers (pool checkout, command lookup, response callbacks,
instrumentation), which cost more CPU than the round trip. Everything else in the store uses plain
redis-py. Retries and errors are redis-py's own: the connection's retry policy, and redis-py
exceptions for the store to translate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError
from redis.utils import HIREDIS_AVAILABLE

from sidequest.stores.redis.connection import pack
from sidequest.stores.redis.held import HeldConnections, drop_if_closed


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


def run(held: HeldConnections, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run a Lua script by SHA; on NOSCRIPT (a restarted or flushed server) redis-py's Script loads
    the source again and retries, so callers never see a missing script."""
    return run_each(held, script, [(keys, args)])[0]


def run_each(
    held: HeldConnections, script: Script, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
) -> list[Any]:
    """Run script once per (keys, args), all in one write, each call atomic on its own; replies in
    order. A call refused with NOSCRIPT did not run, so it runs again once the source is loaded."""
    batch = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
    replies = commands(held, *batch, retry=True)
    for index, reply in enumerate(replies):
        if isinstance(reply, NoScriptError):
            keys, args = calls[index]
            replies[index] = script(keys=keys, args=args, client=held.client)
        elif isinstance(reply, Exception):
            raise reply
    return replies


class Sent:
    """Commands written now on this thread's held connection, their replies read later (with hiredis).

    For a caller with other work to do during the round trip (the worker's fetch, see
    Store.fetch_begin). Never resent: what was sent may have run. The thread must read the replies
    (or have them read) before its next command on this connection; a failed read drops it.
    """

    __slots__ = ("_lease", "_count")

    def __init__(self, held: HeldConnections, *batch: Sequence[Any]) -> None:
        lease = held.lease()
        if held.drop_stale:
            drop_if_closed(lease.connection)
        try:
            lease.send(b"".join([pack(tuple(args)) for args in batch]))
        except BaseException:
            lease.connection.disconnect()
            raise
        self._lease, self._count = lease, len(batch)

    @staticmethod
    def possible(held: HeldConnections) -> bool:
        """Whether this thread's connection can send now and read later (hiredis and our own reads)."""
        return HIREDIS_AVAILABLE and held.lease().splits

    def arrived(self) -> bool:
        try:
            return self._lease.arrived()
        except (OSError, ValueError):  # a closed socket: replies() raises the error
            return True

    def replies(self) -> list[Any]:
        """The replies in order, waiting for them; an error reply comes back as its exception."""
        try:
            return self._lease.read(self._count)
        except BaseException:
            self._lease.connection.disconnect()
            raise
