"""Logging with job context: every line logged while a job runs carries its jid and class.

Text format follows Sidekiq's ("2026-11-28T01:02:03.456Z pid=12 tid=abc class=HardJob jid=... INFO: done");
``--log-format json`` gives one JSON object per line for log shippers. The context lives in a
contextvar, so it follows the job into threads' log calls and async jobs alike.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("sidequest")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "sidequest_log_context", default=None
)


def thread_id() -> str:
    """A short per-thread id, like Sidekiq's tid (thread id xor pid, base 36)."""
    value = threading.get_ident() ^ os.getpid()
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
    return out or "0"


@contextmanager
def job_context(**fields: Any) -> Iterator[None]:
    """Attach fields (class, jid, ...) to every log line inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = _context.get() or {}
        extra = getattr(record, "sidequest", None) or {}
        fields = " ".join(f"{k}={v}" for k, v in {**context, **extra}.items())
        line = f"{_timestamp(record)} pid={os.getpid()} tid={thread_id()} {fields + ' ' if fields else ''}{record.levelname}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = {**(_context.get() or {}), **(getattr(record, "sidequest", None) or {})}
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "pid": os.getpid(),
            "tid": thread_id(),
            "lvl": record.levelname,
            "msg": record.getMessage(),
        }
        if context:
            entry["ctx"] = context
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(log_format: str = "text", level: str = "INFO") -> None:
    """Send sidequest's logs to stderr in the chosen format (the worker calls this once)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
