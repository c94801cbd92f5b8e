"""Where sidequest reads private fields of redis-py or CPython for speed, losing them costs speed only.

Each test takes away the private part (as a release that renamed it would), then checks that the
plain path does the same work and says so once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import warnings
from typing import Any

import redis

from sidequest.stores import open_store
from sidequest.stores.redis import held


class ConnectionWithoutPrivates(redis.Connection):
    """A redis-py connection whose private fields sidequest's code cannot see (redis-py's own code
    still can, as after a rename inside redis-py)."""

    def __getattribute__(self, name: str) -> Any:
        if name in held.PRIVATE_FIELDS:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("sidequest."):
                raise AttributeError(name)
        return super().__getattribute__(name)


def test_the_hot_paths_fall_back_to_redis_pys_public_calls_with_one_warning(redis_url: str) -> None:
    # given a Redis store whose connections lack the fields the held-connection path reads
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = open_store(redis_url, connection_class=ConnectionWithoutPrivates)
        try:
            # when jobs are pushed from two threads, fetched and acknowledged
            def push(tag: str) -> None:
                store.push([("default", json.dumps({"class": "Job", "args": [tag], "jid": tag}))])

            threads = [threading.Thread(target=push, args=(tag,)) for tag in ("a", "b")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            push("c")
            works = store.fetch("me", ["default"], 10)
            acked = store.ack("me", works)
        finally:
            store.close()
    # then every job went through, and one warning named the fallback
    assert sorted(json.loads(work.payload)["jid"] for work in works) == ["a", "b", "c"]
    assert acked == 3
    fallbacks = [str(w.message) for w in caught if "fall back" in str(w.message)]
    assert len(fallbacks) == 1, fallbacks
    assert "no _sock" in fallbacks[0] and "redis-py's own send and read" in fallbacks[0]


FORCE_PUBLIC_JSON = """
import json.encoder, json.scanner, warnings
json.encoder.c_make_encoder = None
json.scanner.c_make_scanner = lambda *args: (_ for _ in ()).throw(TypeError("signature changed"))
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from sidequest import payload
raw = payload.dumps(payload.build("Job", ["é", 1.5, None, {"k": [True]}], {"retry": 3}, 1.25))
print(raw)
print(payload.loads(raw)["args"])
for warning in caught:
    print("WARNING", warning.message)
"""


def test_payloads_fall_back_to_the_public_json_path_with_one_warning_each() -> None:
    # given an interpreter whose private JSON encoder is gone and whose scanner changed its arguments
    result = subprocess.run(
        [sys.executable, "-c", FORCE_PUBLIC_JSON], capture_output=True, text=True, timeout=60, check=True
    )
    raw, args, *warned = result.stdout.splitlines()
    # then payloads are written and read exactly as with them
    assert raw.startswith('{"retry":3,"queue":"default","args":["é",1.5,null,{"k":[true]}],"class":"Job",')
    assert args == "['é', 1.5, None, {'k': [True]}]"
    # and one warning says so for each
    assert len(warned) == 2
    assert "encoder (json.encoder.c_make_encoder) cannot be used (not in this interpreter)" in warned[0]
    assert "scanner (json.scanner.c_make_scanner) cannot be used (TypeError: signature changed)" in warned[1]
