"""One pooled connection per thread, held between calls, for the hot paths (push, fetch, ack).

redis-py's pool checks a connection out and back in around every command. With redis-py 8 that
costs about 50 us of CPU per call here (a lock, a readiness poll on the socket, connection metrics),
as much as the round trip itself, and an enqueue is one round trip. So a thread that enqueues or
works keeps the connection it checked out, as a thread does with redis-rb's connection_pool.

The connection still belongs to the pool: max_connections counts it, the pool's disconnect()
closes it (the next call reconnects), and it goes back to the pool when its thread ends. A forked
child takes a new one instead of sharing its parent's socket.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from sidequest.stores.redis.spin import ReplyWait


class _Lease:
    """A connection checked out of a pool for the life of one thread."""

    __slots__ = ("pool", "pid", "connection", "reply_wait")

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection = pool.get_connection()
        self.reply_wait = ReplyWait()

    def __del__(self) -> None:
        # runs when the thread's local storage goes away; a forked child's copy is not ours to return
        if self.pid == os.getpid():
            # a pool being torn down at exit may refuse; the socket closes with it
            with contextlib.suppress(Exception):
                self.pool.release(self.connection)


class HeldConnections:
    """Hands each thread its own connection from client's pool; client runs everything else."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._local = threading.local()

    def get(self) -> Any:
        return self.lease().connection

    def lease(self) -> _Lease:
        """This thread's lease: its connection and that connection's reply-polling state."""
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is None or lease.pid != os.getpid():
            lease = self._local.lease = _Lease(self.client.connection_pool)
        return lease
