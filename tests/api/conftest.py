"""Helpers for operator API tests: jobs written the way the client and the worker write them."""

from __future__ import annotations

from typing import Any

from sidequest.payload import build, dumps, encode_backtrace
from sidequest.stores.base import Beat
from tests.support.beats import beat_for

NOW = 1_795_827_751.8577726


def job(
    n: int | str,
    job_class: str = "HardJob",
    queue: str = "default",
    args: list[Any] | None = None,
    **extra: Any,
) -> str:
    """A stored payload with a predictable jid (n padded to 24 characters), enqueued at NOW."""
    payload = build(job_class, [n] if args is None else args, {"queue": queue, "retry": True}, created_at=NOW)
    payload["jid"] = f"{str(n):0>24}"[-24:]
    payload["enqueued_at"] = NOW
    payload.update(extra)
    return dumps(payload)


def failed(n: int | str, job_class: str = "HardJob", message: str = "boom", **extra: Any) -> str:
    """A payload as the worker stores it in the retry or dead set after a failure."""
    return job(
        n,
        job_class,
        error_class="RuntimeError",
        error_message=message,
        failed_at=NOW,
        retry_count=extra.pop("retry_count", 2),
        error_backtrace=encode_backtrace(
            extra.pop("backtrace", ["shop/jobs.py:12:in `perform'", "sidequest/runtime/execute.py:30"])
        ),
        **extra,
    )


def beat(identity: str, *, ttl: float = 60.0, **changes: Any) -> Beat:
    """A heartbeat like a worker's (tag "shop", two queues, weights), with its info JSON."""
    info = {
        "tag": "shop",
        "queues": ["critical", "default"],
        "weights": [{"critical": 3, "default": 1}],
        "version": "sidequest 0.1",
        "embedded": False,
    }
    return beat_for(identity, ttl=ttl, info=info, **changes)
