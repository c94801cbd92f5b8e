"""One pooled connection per thread, held between calls, for the hot paths (push, fetch, ack).

redis-py's pool checks a connection out and back in around every command, which costs about as much
CPU as the round trip itself (a lock, a readiness poll on the socket, connection metrics), and an
enqueue is one round trip (numbers: docs/benchmarks.md, "Measurements behind design choices"). So
a thread that enqueues or works keeps the connection it checked out, as with redis-rb's
connection_pool.

The connection still belongs to the pool: max_connections counts it, the pool's disconnect()
closes it (the next call reconnects), and it goes back to the pool when its thread ends. A forked
child takes a new one instead of sharing its parent's socket.

With hiredis, a lease also writes and reads on that connection's socket itself (exchange): redis-py's
send and read path (health check, per-reply error wrapping, the parser's timeout handling) is a
measurable share of an enqueue's CPU. redis-py still connects, authenticates, selects the
database and checks the health of a connection idle past health_check_interval.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import warnings
from typing import Any

from redis import exceptions as redis_errors
from redis.utils import HIREDIS_AVAILABLE

from sidequest.stores.redis.spin import ReplyWait

if HIREDIS_AVAILABLE:
    import hiredis

#: What the reader returns while a reply is incomplete (no reply can be this object).
_PARTIAL = object()


def drop_if_closed(connection: Any) -> None:
    """Disconnect connection if its socket is readable while no reply is due: the server closed it.

    Every reply on a held connection is read whole (or the connection is dropped), so an idle one has
    nothing to read unless the peer closed it. Nothing has been sent, so reconnecting is safe. (A
    redis-py without the private socket field skips the check, as it skips the rest of this path.)
    """
    sock = getattr(connection, "_sock", None)
    if sock is not None and select.select([sock], [], [], 0)[0]:
        connection.disconnect()


class _Lease:
    """A connection checked out of a pool for the life of one thread."""

    __slots__ = ("pool", "pid", "connection", "reply_wait", "_sock", "_reader", "_buffer")

    #: Whether send() and read() may be called apart (a reply read later): not on _PlainLease.
    splits = True

    def __init__(self, pool: Any, connection: Any) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection = connection
        self.reply_wait = ReplyWait()
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._buffer = bytearray(65536)

    def exchange(self, packed: bytes, count: int, spin: bool) -> list[Any]:
        """Write packed commands and read their count replies off the socket (needs hiredis).

        An error reply comes back as its exception (redis-py's class for it, e.g. NoScriptError),
        not raised. A failed write or read raises redis-py's ConnectionError or TimeoutError and
        leaves the caller to drop the connection, as replies may be left unread on it.
        """
        self.send(packed)
        if spin:
            self.reply_wait.until_readable(self._sock)
        return self.read(count)

    def send(self, packed: bytes) -> None:
        """Write packed commands; their replies are read with read() (the first half of exchange)."""
        connection = self.connection
        interval = connection.health_check_interval
        if connection._sock is None:
            connection.connect()
        elif interval and time.monotonic() > connection.next_health_check:
            connection.check_health()
        sock = connection._sock
        if sock is not self._sock:  # a new socket (first use, or a reconnect): a reader with nothing pending
            self._sock, self._reader = sock, self._new_reader()
        try:
            sock.sendall(packed)
        except TimeoutError:  # the socket's timeout (socket.timeout), before the OSError it is
            raise redis_errors.TimeoutError("Timeout writing to the socket") from None
        except OSError as exc:
            raise redis_errors.ConnectionError(f"Error on the socket: {exc}") from None

    def arrived(self) -> bool:
        """Whether a reply (or its start) is there to read, without waiting."""
        sock = self._sock
        assert sock is not None, "arrived() before send()"
        return bool(select.select([sock], [], [], 0)[0])

    def read(self, count: int) -> list[Any]:
        """Read count replies to what send() wrote (the second half of exchange)."""
        sock, reader, buffer = self._sock, self._reader, self._buffer
        assert sock is not None, "read() before send()"
        replies: list[Any] = []
        try:
            for _ in range(count):
                reply = reader.gets()
                while reply is _PARTIAL:
                    size = sock.recv_into(buffer)
                    if not size:
                        raise redis_errors.ConnectionError("Connection closed by server.")
                    reader.feed(buffer, 0, size)
                    reply = reader.gets()
                replies.append(reply)
        except TimeoutError:
            raise redis_errors.TimeoutError("Timeout waiting for the reply") from None
        except OSError as exc:
            raise redis_errors.ConnectionError(f"Error on the socket: {exc}") from None
        interval = self.connection.health_check_interval
        if interval:
            self.connection.next_health_check = time.monotonic() + interval
        return replies

    def _new_reader(self) -> Any:
        """A reader that decodes and maps error replies as redis-py's own would for this connection."""
        encoder = self.connection.encoder
        options: dict[str, Any] = {
            "replyError": getattr(self.connection._parser, "parse_error", redis_errors.ResponseError),
            "notEnoughData": _PARTIAL,
            "errors": encoder.encoding_errors,
        }
        if encoder.decode_responses:
            options["encoding"] = encoder.encoding
        return hiredis.Reader(**options)

    def __del__(self) -> None:
        # runs when the thread's local storage goes away; a forked child's copy is not ours to return
        if self.pid == os.getpid():
            # a pool being torn down at exit may refuse; the socket closes with it
            with contextlib.suppress(Exception):
                self.pool.release(self.connection)


class _PlainLease(_Lease):
    """A held connection talked to through redis-py's public send and read calls only: the path when
    this redis-py lacks the connection internals exchange() reads (see PRIVATE_FIELDS)."""

    __slots__ = ()
    splits = False

    def exchange(self, packed: bytes, count: int, spin: bool) -> list[Any]:
        connection = self.connection
        connection.send_packed_command([packed])
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except redis_errors.ResponseError as error:
                replies.append(error)
        return replies


#: redis-py connection fields exchange() reads, private and so free to change in any release;
#: pyproject.toml pins redis-py to the versions tested with them.
PRIVATE_FIELDS = ("_sock", "_parser", "next_health_check", "health_check_interval", "encoder")

_warned: set[type] = set()


def _has_internals(connection: Any) -> bool:
    """Whether connection has what exchange() reads; warns once per connection class when not."""
    missing = [name for name in PRIVATE_FIELDS if not hasattr(connection, name)]
    if missing and type(connection) not in _warned:
        _warned.add(type(connection))
        warnings.warn(
            f"sidequest: this redis-py ({type(connection).__module__}.{type(connection).__name__}) has no "
            f"{', '.join(missing)}; the hot paths fall back to redis-py's own send and read (slower). "
            "Install a redis-py version within sidequest's pin to get them back",
            RuntimeWarning,
            stacklevel=3,
        )
    return not missing


class HeldConnections:
    """Hands each thread its own connection from client's pool; client runs everything else.

    drop_stale: before each call, drop a connection the server has closed meanwhile (a restart), so
    the call goes out on a new one. For a pool whose commands are never resent (fetch): its first
    call after a restart would otherwise fail although nothing ran. Costs one non-blocking poll.
    """

    def __init__(self, client: Any, *, drop_stale: bool = False) -> None:
        self.client = client
        self.drop_stale = drop_stale
        self._local = threading.local()
        self._plain: bool | None = None  # decided on the first lease, from a real connection

    def lease(self) -> _Lease:
        """This thread's lease: its connection, and the state for talking on it (reply polling, reader)."""
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is None or lease.pid != os.getpid():
            pool = self.client.connection_pool
            try:
                connection = pool.get_connection()
            except TypeError:  # redis-py before 5.3 wants a command name (and ignores it)
                connection = pool.get_connection("PING")
            if self._plain is None:
                self._plain = not _has_internals(connection)
            lease = self._local.lease = (_PlainLease if self._plain else _Lease)(pool, connection)
        return lease
