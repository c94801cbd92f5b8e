"""Connections to one SQLite file, shared safely by threads and processes.

Each thread gets its own connection (a sqlite3 connection must not run two statements at once), only
that thread closes it (see _Handle), and a connection never crosses a fork. Every write runs in
``BEGIN IMMEDIATE``, so it takes the file's write lock up front and cannot fail half-way on a lock
upgrade. When another process holds the lock, SQLite's busy handler waits, and on top of it a retry
loop with bounded backoff covers the cases the handler does not (WAL recovery, a commit racing a
checkpoint). "database is locked" therefore never reaches the caller; after busy_timeout seconds of
contention it becomes StoreUnavailable. Every other SQLite failure becomes a StoreError saying what
happened to the file and what to do.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from sidequest._time import backoff
from sidequest.errors import ConfigError, StoreError, StoreUnavailable
from sidequest.stores.sqlite import schema

T = TypeVar("T")

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
DEFAULT_BUSY_TIMEOUT = 30.0
#: Page cache per connection, in KiB (SQLite's default is 2,000 KiB; see Database.connection).
CACHE_KIB = 256
#: Rows per statement when a list of values becomes SQL parameters (well under SQLite's limit).
CHUNK = 400

#: Connections inherited through fork: closing them in the child could disturb the parent's locks,
#: and letting them be garbage-collected would close them, so the child keeps them unused.
_inherited: list[sqlite3.Connection] = []


@dataclass(frozen=True, slots=True)
class Options:
    path: str
    synchronous: str
    busy_timeout: float


def parse_url(url: str, synchronous: str | None, busy_timeout: float | None) -> Options:
    """Read ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` and its query options.

    Keyword options win over the URL's query, which wins over the defaults.
    """
    prefix = "sqlite://"
    if not url.lower().startswith(prefix) or not url[len(prefix) :].startswith("/"):
        raise ConfigError(
            f"SQLite URL {url!r} is not valid; write sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    location, _, query = url[len(prefix) + 1 :].partition("?")
    path = unquote(location)
    if not path or path == ":memory:":
        raise ConfigError(
            f"SQLite URL {url!r} names no file; the SQLite store needs a file that processes can share "
            "(use memory:// for an in-process store)"
        )
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - {"synchronous", "busy_timeout"})
    if unknown:
        raise ConfigError(
            f"SQLite URL {url!r} has unknown option(s) {', '.join(unknown)}; known options: busy_timeout, synchronous"
        )
    level = (synchronous or params.get("synchronous") or "NORMAL").upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise ConfigError(f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}, got {level!r}")
    raw_timeout = (
        busy_timeout if busy_timeout is not None else params.get("busy_timeout", DEFAULT_BUSY_TIMEOUT)
    )
    try:
        timeout = float(raw_timeout)
    except ValueError:
        raise ConfigError(f"busy_timeout must be a number of seconds, got {raw_timeout!r}") from None
    if timeout <= 0:
        raise ConfigError(f"busy_timeout must be a positive number of seconds, got {timeout}")
    return Options(path, level, timeout)


class _Handle:
    """A thread's connection; when the thread ends its handle is freed and the connection closed.

    Only the thread that opened a connection ever closes it while that thread runs: CPython's sqlite3
    module crashes the process (SIGSEGV) when one thread closes a connection while another is inside
    a statement on it, because the statement's thread then reads the connection's freed handle.
    """

    __slots__ = ("connection", "pid", "closer", "__weakref__")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.pid = os.getpid()
        self.closer = weakref.finalize(self, _close, connection, self.pid)
        # At exit the main thread closes its own connections only: daemon threads may still be
        # inside a statement on theirs, and the process ending releases those safely.
        self.closer.atexit = threading.current_thread() is threading.main_thread()


def _close(connection: sqlite3.Connection, pid: int) -> None:
    if os.getpid() == pid:
        connection.close()
    else:
        _inherited.append(connection)


class Database:
    """One SQLite file: per-thread connections, write transactions with retry, error translation."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.path = options.path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        try:
            self.retry(lambda: self._prepare(self.connection()), "open the store", write=True)
        except BaseException:
            self.close()
            raise

    # ---- connections ----------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after a fork)."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        pid = os.getpid()
        if handle is not None and handle.pid == pid:
            if self._closed:
                self._release(handle)
                raise self._closed_error()
            return handle.connection
        if self._pid != pid:
            # A forked child: the parent's connections stay unused (see _close), and its lock may
            # have been held by a parent thread at the fork, so the child starts with its own.
            self._pid, self._lock = pid, threading.Lock()
        if self._closed:
            raise self._closed_error()
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self.options.busy_timeout,
                isolation_level=None,  # we issue BEGIN and COMMIT ourselves
                check_same_thread=False,  # close() may run on another thread
                cached_statements=32,  # statements with IN lists of every length would fill a bigger cache
            )
        except sqlite3.Error as exc:
            raise self._translate(exc, "open the store") from exc
        try:
            connection.execute(f"PRAGMA synchronous = {self.options.synchronous}")
            # Keep the WAL file from staying large after a burst of jobs.
            connection.execute("PRAGMA journal_size_limit = 67108864")
            # Every worker thread has its own connection; SQLite's default page cache (2 MB each)
            # made a worker's memory grow by tens of MB as the threads' caches filled. The hot pages
            # (a queue's head, the in-progress rows) fit in a much smaller cache.
            connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except sqlite3.Error as exc:
            connection.close()
            raise self._translate(exc, "open the store") from exc
        self._local.handle = _Handle(connection)
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """WAL mode and the current schema; a file already up to date is only read, so read-only files open."""
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        if schema.read_version(connection, self.path) == schema.SCHEMA_VERSION:
            return
        self._transaction(connection, lambda: schema.migrate(connection, self.path))

    def close(self) -> None:
        """Refuse further use, and close this thread's connection now.

        Every other thread's connection is closed by that thread, at its next use (which raises a
        StoreError saying the store was closed) or when the thread ends: closing it from here could
        crash the process if that thread is inside a statement (see _Handle).
        """
        with self._lock:
            self._closed = True
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None:
            self._release(handle)

    def _release(self, handle: _Handle) -> None:
        """Close handle's connection (the caller is its owner thread) and forget it."""
        self._local.handle = None
        handle.closer()

    def _closed_error(self) -> StoreError:
        return StoreError(f"the SQLite store on {self.path} was closed; open a new one with open_store()")

    # ---- transactions ---------------------------------------------------------------------------
    def write(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run operation in one write transaction, retried whole while the file is locked.

        operation must only touch the database, so running it again after a rollback is safe.
        """

        def attempt() -> T:
            connection = self.connection()
            return self._transaction(connection, lambda: operation(connection))

        return self.retry(attempt, what, write=True)

    def read(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run operation on one consistent snapshot of the file."""

        def attempt() -> T:
            connection = self.connection()
            return self._transaction(connection, lambda: operation(connection), begin="BEGIN")

        return self.retry(attempt, what, write=False)

    def read_all(self, what: str, sql: str, params: Sequence[object]) -> list[Any]:
        """The rows of one query (a single statement is its own consistent snapshot)."""
        return self.retry(lambda: self.connection().execute(sql, params).fetchall(), what, write=False)

    @staticmethod
    def _transaction(
        connection: sqlite3.Connection, body: Callable[[], T], begin: str = "BEGIN IMMEDIATE"
    ) -> T:
        connection.execute(begin)
        try:
            result = body()
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                # SQLite may have rolled back already (e.g. after SQLITE_FULL); nothing was kept either way.
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise
        return result

    def retry(self, attempt: Callable[[], T], what: str, *, write: bool) -> T:
        """Run attempt, retrying with bounded, jittered backoff while the file is locked or busy."""
        deadline = time.monotonic() + self.options.busy_timeout
        for delay in backoff(0.001, 0.05):
            try:
                return attempt()
            except sqlite3.Error as exc:
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    continue
                raise self._translate(exc, what) from exc
        raise AssertionError("unreachable: backoff never ends")

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file: a cheap way to notice new jobs."""
        try:
            return int(self.connection().execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            if _is_busy(exc):
                return -1  # unknown; the caller simply looks again
            raise self._translate(exc, "watch for new jobs") from exc

    # ---- errors ---------------------------------------------------------------------------------
    def _read_only(self) -> bool:
        """Whether the file or the directory that must hold its -wal and -shm files cannot be written."""
        directory = os.path.dirname(os.path.abspath(self.path))
        return os.path.exists(self.path) and not (_writable(self.path) and _writable(directory))

    def _translate(self, exc: sqlite3.Error, what: str) -> StoreError:
        code = _primary_code(exc)
        path = self.path
        if code == sqlite3.SQLITE_FULL:
            return StoreError(
                f"cannot {what}: the SQLite file {path} is full (no space left on its disk, or its size limit "
                "reached). Nothing of this operation was written and jobs already stored are safe; free disk "
                "space and try again"
            )
        if code == sqlite3.SQLITE_READONLY or (code == sqlite3.SQLITE_CANTOPEN and self._read_only()):
            return StoreError(
                f"cannot {what}: the SQLite file {path} is read-only for this process (uid {os.getuid()}). "
                "Nothing was written and jobs already stored are untouched; make the file, its -wal and -shm "
                "files and its directory writable by this user"
            )
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreUnavailable(
                f"cannot {what}: the SQLite file {path} stayed locked by another connection for "
                f"{self.options.busy_timeout:g} s. A process may be holding a long transaction; raise the "
                "limit with ?busy_timeout=SECONDS in the store URL if this load is expected"
            )
        directory = os.path.dirname(os.path.abspath(path))
        if code == sqlite3.SQLITE_CANTOPEN and not os.path.isdir(directory):
            return StoreError(
                f"cannot {what}: the directory {directory} of the SQLite file {path} does not exist; "
                "create it, or point the store URL at a file in an existing directory"
            )
        if code == sqlite3.SQLITE_CANTOPEN:
            return StoreError(
                f"cannot {what}: the SQLite file {path} cannot be opened ({exc}); check that its directory "
                "exists and that this user may create and write files there"
            )
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            return StoreError(f"cannot {what}: {path} is not a valid SQLite database or is damaged ({exc})")
        if code == sqlite3.SQLITE_IOERR:
            return StoreError(f"cannot {what}: the disk holding {path} reported an I/O error ({exc})")
        return StoreError(f"cannot {what} in the SQLite file {path}: {exc}")


def _writable(path: str) -> bool:
    return os.access(path, os.W_OK) if os.path.exists(path) else True


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is not None:
        return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text
