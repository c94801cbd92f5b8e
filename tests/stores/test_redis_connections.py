"""The connections behind the hot paths: each thread holds one (held.py), and an application that starts
many threads, forks, or closes the store must neither leak connections nor mix up replies."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Callable

import redis

from sidequest.stores.base import Beat
from sidequest.stores.redis import RedisStore
from tests.support.redis_server import RedisServer


def clients(url: str) -> int:
    """Connections the server sees, not counting the one asking."""
    with redis.Redis.from_url(url) as admin:
        return int(admin.info("clients")["connected_clients"]) - 1


def payload(n: int) -> str:
    return f'{{"class":"Work","args":[{n}],"jid":"{n:024x}","queue":"default"}}'


def test_threads_that_end_give_their_connection_back(redis_url: str) -> None:
    """A web server that starts a thread per request must not open a connection per request."""
    before = clients(redis_url)
    store = RedisStore(redis_url)
    for n in range(100):
        thread = threading.Thread(target=store.push, args=([("default", payload(n))],))
        thread.start()
        thread.join()  # its local storage, and so its connection's lease, is gone by now (no gc needed)
    assert store.queue_size("default") == 100
    # each thread took the connection the one before it gave back; the last one may still be giving
    # its back when queue_size asks the pool for one
    assert clients(redis_url) - before <= 2
    store.close()


def test_concurrent_threads_each_get_their_own_reply(redis_url: str) -> None:
    store = RedisStore(redis_url)
    errors: list[BaseException] = []

    def work(first: int) -> None:
        try:
            for n in range(first, first + 200):
                store.push([("default", payload(n))])
                taken = store.fetch(f"host:{first}", ["default"], 1)
                assert len(taken) == 1
                assert store.ack(f"host:{first}", taken) == 1
        except BaseException as exc:  # noqa: BLE001  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.queue_size("default") == 0
    store.close()


def _push_in_child(store: RedisStore, n: int) -> None:
    store.push([("default", payload(n))])


def test_a_forked_child_uses_its_own_connection(redis_url: str) -> None:
    """The child must not write on its parent's socket: both would read each other's replies."""
    store = RedisStore(redis_url)
    store.push([("default", payload(0))])  # the parent now holds a connection
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_push_in_child, args=(store, n)) for n in range(1, 5)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    store.push([("default", payload(5))])  # the parent's connection still works and is in step
    assert store.queue_size("default") == 6
    store.close()


def test_close_drops_held_connections_and_the_next_call_reconnects(redis_url: str) -> None:
    before = clients(redis_url)
    store = RedisStore(redis_url)
    store.push([("default", payload(1))])
    assert clients(redis_url) - before == 1
    store.close()
    assert clients(redis_url) - before == 0
    store.push([("default", payload(2))])
    assert store.queue_size("default") == 2
    store.close()


def test_a_restarted_server_is_reconnected_by_a_held_connection(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory(persistent=True)
    store = RedisStore(server.url)
    store.push([("default", payload(1))])
    server.restart()
    store.push([("default", payload(2))])  # the held socket is dead; redis-py's retry reconnects
    assert store.queue_size("default") == 2
    store.close()


def test_an_idle_fetch_connection_left_stale_by_a_restart_does_not_fail_the_next_fetch(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    # given a thread whose held fetch connection sits idle while the server restarts
    server = redis_server_factory(persistent=True)
    store = RedisStore(server.url)
    store.beat(Beat("box:1:aaa", "{}", 0, 0.0, False, 0, 0, 1, {}, ttl=60))
    assert store.fetch("box:1:aaa", ["default"], 1) == []
    server.restart()
    store.push([("default", payload(1))])
    # when that thread fetches again: fetches are never resent (one may have run), but this one
    # was never sent on the dead socket
    taken = store.fetch("box:1:aaa", ["default"], 1)
    # then it gets the job instead of reporting the store unavailable
    assert [w.payload for w in taken] == [payload(1)]
    store.close()


def test_replies_larger_than_one_read_arrive_whole(redis_url: str) -> None:
    store = RedisStore(redis_url)
    jobs = [payload(n)[:-1] + f',"pad":"{n % 10}' + "x" * 200_000 + '"}' for n in range(30)]
    store.push([("default", job) for job in jobs])

    taken = store.fetch("box:1:aaa", ["default"], 30)

    assert sorted(w.payload for w in taken) == sorted(jobs)  # 6 MB in one reply
    assert store.ack("box:1:aaa", taken) == 30
    store.close()


WITHOUT_HIREDIS = """
import sys
sys.modules["hiredis"] = None  # as if it were not installed: redis-py falls back to its own parser
from redis.utils import HIREDIS_AVAILABLE
assert not HIREDIS_AVAILABLE
from sidequest.stores.base import Beat
from sidequest.stores.redis import RedisStore
store = RedisStore(sys.argv[1])
store.push([("default", '{"class":"Work","args":["caf\\u00e9"],"jid":"a"}'), ("other", '{"class":"Work","jid":"b"}')])
taken = store.fetch("host:1", ["default", "other"], 10)
assert sorted(w.payload for w in taken) == ['{"class":"Work","args":["caf\\u00e9"],"jid":"a"}', '{"class":"Work","jid":"b"}'], taken
assert store.ack("host:1", taken) == 2
print("ok")
"""


def test_the_hot_paths_work_without_hiredis(redis_url: str) -> None:
    """hiredis is an optional extra; without it push, fetch and ack pack through redis-py."""
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_HIREDIS, redis_url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
