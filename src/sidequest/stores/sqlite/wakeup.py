"""Wake-ups between the processes of one machine: a job committed by one wakes fetches waiting in the others.

A process that waits for jobs (a worker) listens on one Unix datagram socket per file, in a folder
beside the database (``jobs.db.wake/``, or a hashed folder in the temp dir when that path is too long
for a socket). A process that commits a job sends one byte, without blocking, to every socket in the
folder. The folder's listing is cached by its inode and mtime, looked at every FOLDER_LOOK at most,
so a push costs one send per listening process. A socket whose process died refuses the send and is
removed then; a worker also removes those it finds when it starts listening.

Polling ``PRAGMA data_version`` stays as the fallback: every 20 ms while a process cannot listen
(read-only or socket-less filesystem; one warning says so), and every SAFETY_POLL while it listens,
for writers that do not ring (an older sidequest, the sqlite3 shell, a pusher that may not write to
the socket).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import logging
import os
import secrets
import socket
import stat
import tempfile
import threading
import time

logger = logging.getLogger("sidequest")

#: How often a waiting fetch reads ``data_version`` while its process listens for wake-ups.
SAFETY_POLL = 0.25
#: Longest socket path AF_UNIX accepts on Linux (sun_path is 108 bytes with its NUL).
MAX_SOCKET_PATH = 107
#: Room kept for a socket's name in the folder: "/", a pid of up to 7 digits, ".", 6 hex digits.
NAME_ROOM = 15
#: A folder listing taken less than this after the folder's mtime may miss a later change with the same
#: mtime (the kernel stamps files from a clock that ticks every few ms), so it is taken again on next use.
MTIME_TICK_NS = 50_000_000

#: How long a pusher trusts what it knows of the folder before a ``stat`` (about 2 us, 8 % of a push
#: when done for every one). A process that starts listening may therefore miss this long of pushes
#: from a process that pushed just before; the SAFETY_POLL finds those jobs.
FOLDER_LOOK = 0.01

_warned: set[str] = set()


def wake_folder(db_path: str) -> str:
    """Where the wake-up sockets of the file at db_path live; every process computes the same folder."""
    real = os.path.realpath(db_path)
    beside = real + ".wake"
    if len(os.fsencode(beside)) + NAME_ROOM <= MAX_SOCKET_PATH:
        return beside
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"sidequest-wake-{digest}")


def warn_once(folder: str, message: str, *args: object) -> None:
    if folder not in _warned:
        _warned.add(folder)
        logger.warning(message, *args)


class Listeners:
    """The pushing side: a socket connected to each listening socket of one wake folder, cached.

    Connected sockets, because a send on one costs about half a send to a path: the kernel looks the
    path up on every sendto.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None  # (inode, mtime_ns) the listing was taken at
        self._targets: dict[str, socket.socket] = {}
        self._sockets: tuple[tuple[str, socket.socket], ...] = ()
        self._pid = os.getpid()
        self._next_look = 0.0

    def notify(self, own: str | None) -> None:
        """Wake every listening process but the one listening on own (this process's socket)."""
        now = time.monotonic()
        if now >= self._next_look or self._pid != os.getpid():
            self._next_look = now + FOLDER_LOOK
            try:
                folder = os.stat(self.folder)
            except OSError:  # no folder: no process listens on this file
                if self._sockets:
                    with self._lock:
                        self._sockets, self._stamp = (), None
                return
            if (folder.st_ino, folder.st_mtime_ns) != self._stamp or self._pid != os.getpid():
                self._list(folder)
        for path, sock in self._sockets:
            if path != own:
                try:
                    sock.send(b"\x01")
                except BlockingIOError:
                    pass  # its queue is full: that process is busy, and reads them all when it next waits
                except OSError as exc:
                    self._failed(path, exc)

    def close(self) -> None:
        """Close the connected sockets (the last store on the file closed); a later notify lists again."""
        with self._lock:
            targets, self._targets = self._targets, {}
            self._sockets, self._stamp, self._next_look = (), None, 0.0
        for sock in targets.values():
            sock.close()

    def _list(self, folder: os.stat_result) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's sockets are not ours to use
                self._pid, self._targets = os.getpid(), {}
            try:
                paths = [entry.path for entry in os.scandir(self.folder)]
            except OSError:
                paths = []
            targets: dict[str, socket.socket] = {}
            for path in paths:
                sock = self._targets.pop(path, None) or self._connect(path)
                if sock is not None:
                    targets[path] = sock
            for gone in self._targets.values():
                gone.close()
            self._targets = targets
            self._sockets = tuple(targets.items())
            trusted = time.time_ns() - folder.st_mtime_ns > MTIME_TICK_NS
            self._stamp = (folder.st_ino, folder.st_mtime_ns) if trusted else None

    def _connect(self, path: str) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            _cannot_wake(path, exc)
            return None
        return sock

    def _failed(self, path: str, exc: OSError) -> None:
        """Forget a socket that cannot be woken any more."""
        _cannot_wake(path, exc)
        with self._lock:
            sock = self._targets.pop(path, None)
            if sock is not None:
                self._sockets = tuple(self._targets.items())
                sock.close()


def _cannot_wake(path: str, exc: OSError) -> None:
    """Remove the socket at path when its process is gone; warn once when it is there but refuses us."""
    if exc.errno == errno.ECONNREFUSED:  # nobody listens there: its process died
        _remove_dead(path)
    elif exc.errno not in (errno.ENOENT, errno.EBADF):
        warn_once(
            path,
            "cannot wake the worker listening on %s (%s); it will notice this process's jobs "
            "by polling, within %g s",
            path,
            exc.strerror,
            SAFETY_POLL,
        )


def _remove_dead(path: str) -> bool:
    """Remove a socket nobody listens on (a connect was refused); anything else in the folder stays."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
            return True
    return False


class Endpoint:
    """This process's socket in the wake folder, read by one waiting fetch at a time (see Bell.wait).

    Nobody reads it while the process is busy: wake-ups then queue in it (ten at most, after which
    senders skip it without blocking), so a busy worker is not interrupted by pushes made elsewhere.
    """

    def __init__(self, folder: str) -> None:
        """Listen in folder; raises OSError when that is impossible."""
        _make_folder(folder)
        remove_stale(folder)
        self.path = os.path.join(folder, f"{os.getpid()}.{secrets.token_hex(3)}")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._socket.bind(self.path)
        except OSError:
            self._socket.close()
            raise
        self._pid = os.getpid()
        #: Set when the endpoint was released while a fetch waited on it: that fetch closes it.
        self.closing = False
        atexit.register(self._remove)

    def wait(self, seconds: float) -> bool:
        """Block up to seconds for a wake-up; True when one came (all queued ones are read then)."""
        sock = self._socket
        try:
            sock.settimeout(seconds)
            sock.recv(64)
        except TimeoutError:
            return False
        except OSError:
            return True  # closed under us: the caller looks again and waits without it
        with contextlib.suppress(OSError):  # BlockingIOError once every queued wake-up is read
            sock.settimeout(0.0)
            while True:
                sock.recv(64)
        return True

    def poke(self) -> None:
        """Wake the fetch waiting on this socket, from this process."""
        with contextlib.suppress(OSError):
            self._socket.sendto(b"\x01", socket.MSG_DONTWAIT, self.path)

    def close(self) -> None:
        """Remove the socket (a forked child only lets go of its copy of the parent's)."""
        if os.getpid() == self._pid:
            self._remove()
            atexit.unregister(self._remove)
        self._socket.close()

    def _remove(self) -> None:
        if os.getpid() == self._pid:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _make_folder(folder: str) -> None:
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", folder) from None


def remove_stale(folder: str) -> int:
    """Remove the sockets in folder that no process listens on any more; how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for entry in entries:
            try:
                probe.connect(entry.path)
            except ConnectionRefusedError:
                removed += _remove_dead(entry.path)
            except OSError:
                continue  # not a socket of ours, or not ours to judge: leave it
    finally:
        probe.close()
    return removed
