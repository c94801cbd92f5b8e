"""A TCP proxy that delays every byte by a fixed time in each direction, to test at a round trip's cost.

    python bench/proxy.py LISTEN_PORT TARGET_PORT DELAY_MS

With DELAY_MS = 0.5, a Redis command costs about 1 ms more per round trip, like Sidekiq's load test
behind toxiproxy. Order is kept per direction and throughput is not limited: bytes read while earlier
ones wait are queued, each with its own due time. Threads rather than asyncio, because asyncio's
timers round up to whole milliseconds (epoll), which would turn 0.5 ms into 1 ms or more.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections import deque


def forward(source: socket.socket, target: socket.socket, delay: float) -> None:
    """Copy source to target, each chunk delay seconds after it arrived; close target at the end."""
    pending: deque[tuple[float, bytes]] = deque()
    ready = threading.Condition()

    def sender() -> None:
        while True:
            with ready:
                while not pending:
                    ready.wait()
                due, chunk = pending.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not chunk:
                break
            try:
                target.sendall(chunk)
            except OSError:
                break
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    while True:
        try:
            chunk = source.recv(65536)
        except OSError:
            chunk = b""
        with ready:
            pending.append((time.monotonic() + delay, chunk))
            ready.notify()
        if not chunk:
            break
    thread.join()


def serve(listen: int, target_port: int, delay: float) -> None:
    server = socket.create_server(("127.0.0.1", listen))
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            client.close()
            continue
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=forward, args=(source, target, delay), daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000)
