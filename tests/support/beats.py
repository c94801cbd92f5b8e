"""Heartbeats built the way a worker builds them, for tests that write process records directly."""

from __future__ import annotations

import time
from typing import Any

from sidequest.payload import dumps
from sidequest.stores.base import Beat

#: A fixed started_at, so records compare equal across runs.
STARTED_AT = 1_795_827_751.8577726


def beat_for(identity: str, *, ttl: float = 60.0, info: dict[str, Any] | None = None, **changes: Any) -> Beat:
    """A beat for identity (``host:pid:nonce``) with a worker's info JSON; info entries and Beat
    fields given override the defaults."""
    hostname, pid, _ = identity.split(":") if identity.count(":") == 2 else ("box", "4242", "")
    fields_of_info = {
        "hostname": hostname,
        "started_at": STARTED_AT,
        "pid": int(pid),
        "tag": "",
        "concurrency": 5,
        "queues": ["default"],
        "labels": [],
        "identity": identity,
    }
    fields_of_info.update(info or {})
    fields: dict[str, Any] = dict(
        identity=identity,
        info=dumps(fields_of_info),
        busy=0,
        beat=time.time(),
        quiet=False,
        rss_kb=30560,
        rtt_us=69,
        concurrency=5,
        work={},
        ttl=ttl,
    )
    fields.update(changes)
    return Beat(**fields)
