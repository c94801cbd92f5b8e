"""A pushing thread polls for Redis's reply before it sleeps (spin.py): it must see a reply that is
there, and must stop polling on a connection whose replies come later than a spin, so an
application talking to a distant Redis does not burn CPU on every enqueue; and it must not poll at all
on a machine with no idle core."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from sidequest.stores.redis import spin
from sidequest.stores.redis.spin import ReplyWait


@pytest.fixture(autouse=True)
def any_machine_may_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    # these tests run on busy machines too: polling is allowed whatever the idle time (but the test of it)
    monkeypatch.setattr(spin, "IDLE_CORES_TO_SPIN", 0.0)


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


def test_a_machine_without_an_idle_core_is_never_polled(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a machine that never has enough idle cores (more asked for than it has)
    monkeypatch.setattr(spin, "IDLE_CORES_TO_SPIN", float((os.cpu_count() or 1) + 1))
    ours, theirs = pair
    theirs.sendall(b"+OK\r\n")
    wait = ReplyWait()

    # then even a reply that is there is left to recv, and no miss is counted against the connection
    assert not wait.until_readable(ours)
    assert wait.misses == 0 and wait.skip == 0


def test_the_idle_reading_is_a_share_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spin, "IDLE_SAMPLE_SECONDS", 0.0)  # every reading samples again
    reading = spin.IdleCores()
    cpus = os.cpu_count() or 1
    for _ in range(3):
        sum(range(100_000))  # let the clock tick between samples
        assert 0.0 <= reading.now() <= cpus
