"""Connections to one Redis server, and how their failures are reported.

Two pools: one for ordinary commands, and one for fetches. A fetch moves jobs into this process's
in-progress list; if the client gave up waiting for the reply (a socket timeout while Redis is
paused or busy) or re-sent the command after a dropped connection, the jobs moved by the first
attempt would sit in the list of a live process that does not know it holds them. So fetch
connections wait for the reply however long Redis takes, are never retried, and detect a dead peer
by TCP keepalive instead of a timeout. redis-py picks hiredis by itself when it is installed.

Failures never escape as redis-py exceptions: an outage becomes StoreUnavailable (retry later),
refused credentials and any other refusal StoreError. Messages are one line and name the server by
its redacted URL, so a password never reaches a log.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis

from sidequest.errors import ConfigError, StoreError, StoreUnavailable
from sidequest.stores import redact

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

#: A blocking command waits at most this long per call; longer waits loop.
MAX_BLOCK = 5.0


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP, packed by hiredis. hiredis packs str arguments as strict UTF-8, so a
    payload read with surrogateescape (bytes that are not UTF-8) is encoded first and written back
    as the same bytes. Needs hiredis (HIREDIS_AVAILABLE)."""
    try:
        try:
            return hiredis.pack_command(args)  # type: ignore[no-any-return]
        except UnicodeEncodeError:
            encoded: tuple[Any, ...] = tuple(
                arg.encode("utf-8", "surrogateescape") if isinstance(arg, str) else arg for arg in args
            )
            return hiredis.pack_command(encoded)  # type: ignore[no-any-return]
    except TypeError as exc:  # an argument Redis cannot take, as redis-py reports it
        raise redis.DataError(str(exc)) from None


class _SurrogatePacker:
    """A command packer for redis-py's connections (it calls pack(*args) and writes the chunks):
    hiredis's, through pack() for payloads that are not UTF-8."""

    def pack(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD" and the like
            args = (*args[0].split(), *args[1:])
        return [pack(args)]


def _defaults() -> dict[str, Any]:
    packer = {"command_packer": _SurrogatePacker()} if HIREDIS_AVAILABLE else {}
    return packer | {
        "decode_responses": True,
        # payloads that are not UTF-8 still round-trip to the same bytes (ack and LREM find them)
        "encoding_errors": "surrogateescape",
        "socket_timeout": 5.0,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 30,
        # a few quick retries ride out a dropped connection; a real outage surfaces within a second.
        # Timeouts are not retried: the command may have run, and a hung server would cost 3 timeouts.
        "retry": Retry(
            ExponentialWithJitterBackoff(base=0.02, cap=0.25),
            retries=2,
            supported_errors=(redis.ConnectionError,),
        ),
    }


#: A fetch connection to a host that stopped answering (not merely a paused redis-server, whose
#: kernel still acknowledges) fails after about 5 + 3 x 2 s.
_KEEPALIVE = {
    option: value
    for option, value in (
        (getattr(socket, "TCP_KEEPIDLE", None), 5),
        (getattr(socket, "TCP_KEEPINTVL", None), 2),
        (getattr(socket, "TCP_KEEPCNT", None), 3),
    )
    if option is not None
}


class Connection:
    """The clients a RedisStore talks through, built from its URL and pool options."""

    def __init__(self, url: str, pool_options: dict[str, Any]) -> None:
        self.url = url
        self._password = unquote(urlsplit(url).password or "") if "@" in url else ""
        options = _defaults() | pool_options
        blocking = options | {
            "socket_timeout": None,
            "socket_keepalive": True,
            "socket_keepalive_options": _KEEPALIVE,
            "retry": Retry(NoBackoff(), retries=0),
        }
        try:
            self._pool = redis.ConnectionPool.from_url(url, **options)
            self._blocking_pool = redis.ConnectionPool.from_url(url, **blocking)
        except ValueError as exc:
            raise ConfigError(f"Redis URL {redact(url)!r} is not valid: {self.clean(exc)}") from None
        self.client = redis.Redis(connection_pool=self._pool)
        self.blocking_client = redis.Redis(connection_pool=self._blocking_pool)

    def clean(self, exc: BaseException) -> str:
        """One line, and never the password, whatever redis-py put in the message."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def failure(self, exc: redis.RedisError, action: str) -> StoreError:
        """Our error for a redis-py one; action names what was being done."""
        where = f"Redis at {redact(self.url)}"
        if isinstance(exc, redis.AuthenticationError | redis.exceptions.AuthorizationError):
            # retrying cannot fix credentials, so this is not "unavailable"
            return StoreError(
                f"{where} refused the credentials ({self.clean(exc)}); check the user and password in the URL"
            )
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return StoreUnavailable(
                f"{where} is unavailable ({self.clean(exc)}); check that redis-server is running and the URL is right"
            )
        return StoreError(f"{where} refused {action}: {self.clean(exc)}")

    def close(self) -> None:
        self._pool.disconnect()
        self._blocking_pool.disconnect()


def translated(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Turn redis-py failures of a store method into our error tree (Connection.failure), so callers
    handle one kind of outage. For methods of a class with a ``_connection`` (RedisStore's parts)."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            connection: Connection = getattr(self, "_connection")  # noqa: B009 (any store part)
            raise connection.failure(exc, method.__name__) from None

    return wrapper
