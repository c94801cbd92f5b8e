"""A pushing thread polls for Redis's reply before it sleeps (spin.py): it must see a reply that is
there, and must stop polling on a connection whose replies come later than a spin, so an
application talking to a distant Redis does not burn CPU on every enqueue."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sidequest.stores.redis import spin
from sidequest.stores.redis.spin import ReplyWait


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_reply_that_is_there_or_arrives_during_the_spin_is_seen(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    wait = ReplyWait()
    theirs.sendall(b"+OK\r\n")
    assert wait.until_readable(ours)
    assert ours.recv(16) == b"+OK\r\n"

    # a reply sent from another thread while we poll (the spin is lengthened so a slow machine
    # cannot make this flaky; what is checked is only that polling notices the data)
    original = spin.SPIN_SECONDS
    spin.SPIN_SECONDS = 5.0
    try:
        timer = threading.Timer(0.01, theirs.sendall, args=(b"+OK\r\n",))
        timer.start()
        assert wait.until_readable(ours)
        timer.join()
    finally:
        spin.SPIN_SECONDS = original
    assert wait.misses == 0 and wait.skip == 0


def test_polling_pauses_after_replies_keep_coming_late(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = pair
    wait = ReplyWait()
    for _ in range(spin.MISSES_TO_BACK_OFF - 1):
        assert not wait.until_readable(ours)
    assert wait.skip == 0  # a single late reply (a busy moment) does not stop polling

    assert not wait.until_readable(ours)
    assert wait.skip == spin.BACKOFF_CALLS

    # while paused each call returns without polling; then polling resumes
    for _ in range(spin.BACKOFF_CALLS):
        assert not wait.until_readable(ours)
    assert wait.skip == 0
    assert wait.misses == 0


def test_a_reply_in_time_resets_the_run_of_misses(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    wait = ReplyWait()
    assert not wait.until_readable(ours)
    assert not wait.until_readable(ours)
    theirs.sendall(b"+OK\r\n")
    assert wait.until_readable(ours)
    ours.recv(16)
    assert not wait.until_readable(ours)
    assert wait.skip == 0 and wait.misses == 1


def test_no_socket_means_no_polling() -> None:
    # redis-py connects lazily; a connection without a socket falls through to its own read
    assert not ReplyWait().until_readable(None)
