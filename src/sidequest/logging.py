"""Logging with job context: every line logged while a job runs carries its class, jid and queue.

Text format follows Sidekiq's ("2026-11-28T01:02:03.456Z pid=12 tid=abc class=HardJob jid=... INFO: done");
``--log-format json`` gives one JSON object per line for log shippers, numbers as numbers. The context
lives in a contextvar, so it follows the job into threads' log calls and async jobs alike.

Cost: a no-op job costs the worker ~20 us, and two lines through ``logging.Logger`` (a LogRecord, the
caller lookup, the handler lock, a write and a flush per line) cost about twice that. So when the
worker's own handler is the only thing listening on the "sidequest" logger, a job's start and done
lines (``job_line``) are formatted directly and queued, and the handler (``log_handler``) writes what is
queued within a tenth of a second. Anything else a user configures (another handler, a filter, another formatter,
propagation to the root logger, ``logging.disable``) sends the same lines through ``logging`` as
ordinary records. Queued lines are written before any other record (order is kept), at once for a
failure, before a fork and at exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sidequest.log_handler import MAX_PENDING, WorkerHandler

logger = logging.getLogger("sidequest")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "sidequest_log_context", default=None
)

# where our frames live: sidequest itself, and the stdlib plumbing that runs an async job's coroutine
_OUR_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep
    for module in (sys.modules[__name__.rpartition(".")[0]], asyncio, concurrent.futures)
)
#: the frame that catches a job's exception (Processor.process): tracebacks from there are a job's
_JOB_RUNNER = (os.path.join(_OUR_DIRS[0], "runtime", "processor.py"), "process")


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
    return out or "0"


def thread_id() -> str:
    """A short per-thread id, like Sidekiq's tid (thread id xor pid, base 36)."""
    return _base36(threading.get_ident() ^ os.getpid())


# thread ident -> (pid, tid) and -> "pid=.. tid=.. "; emptied in a forked child, whose pid differs
_ids: dict[int, tuple[int, str]] = {}
_prefixes: dict[int, str] = {}
# thread ident -> (the context of its last job line, that context as text)
_context_texts: dict[int, tuple[dict[str, Any], str]] = {}
_context_json: dict[int, tuple[dict[str, Any], str]] = {}


def _thread_ids() -> tuple[int, str]:
    ident = threading.get_ident()
    ids = _ids.get(ident)
    if ids is None:
        pid = os.getpid()
        ids = _ids[ident] = (pid, _base36(ident ^ pid))
    return ids


def _text_prefix() -> str:
    prefix = _prefixes.get(threading.get_ident())
    if prefix is None:
        pid, tid = _thread_ids()
        prefix = _prefixes[threading.get_ident()] = f"pid={pid} tid={tid} "
    return prefix


# (whole second, its text) and (millisecond, its text): strftime once a second, the rest once a millisecond
_second: tuple[int, str] = (-1, "")
_millisecond: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    global _second, _millisecond
    millis = int(created * 1000)
    cached, text = _millisecond
    if millis == cached:
        return text
    second, fraction = divmod(millis, 1000)
    cached, prefix = _second
    if second != cached:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = (second, prefix)
    text = f"{prefix}.{fraction:03d}Z"
    _millisecond = (millis, text)
    return text


@contextmanager
def job_context(**fields: Any) -> Iterator[None]:
    """Attach fields (class, jid, ...) to every log line inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def job_traceback(tb: TracebackType | None) -> TracebackType | None:
    """A job's traceback from the user's first frame: the frames of ours (and of asyncio) that ran it are
    the same for every job and hide the line that failed. Other tracebacks are returned unchanged."""
    if tb is None or (tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name) != _JOB_RUNNER:
        return tb
    first: TracebackType | None = tb
    while first is not None and first.tb_frame.f_code.co_filename.startswith(_OUR_DIRS):
        first = first.tb_next
    return first or tb  # all ours (an unknown class, a bad payload): the whole of it says where


class _Lines(logging.Formatter):
    """A formatter that can also format a job's line without a LogRecord (see job_line)."""

    def format(self, record: logging.LogRecord) -> str:
        context = {**(_context.get() or {}), **(getattr(record, "sidequest", None) or {})}
        exception = self.formatException(record.exc_info) if record.exc_info else ""
        if record.stack_info:
            exception = "\n".join(filter(None, [exception, self.formatStack(record.stack_info)]))
        return self.line(record.created, record.levelname, record.getMessage(), context, exception)

    def formatException(self, ei: Any) -> str:
        """Job tracebacks start at the user's frames; at DEBUG they are whole."""
        if ei[2] is not None and not logger.isEnabledFor(logging.DEBUG):
            ei = (ei[0], ei[1], job_traceback(ei[2]))
        return super().formatException(ei)

    def line(
        self, created: float, level: str, message: str, context: dict[str, Any], exception: str = ""
    ) -> str:
        raise NotImplementedError

    def job_line(
        self,
        created: float,
        message: str,
        context: dict[str, Any],
        elapsed: float | None,
        fields: dict[str, Any] | None,
    ) -> str:
        """A job's INFO line with its newline: what format() would write for it."""
        return self.line(created, "INFO", message, _line_context(context, elapsed, fields)) + "\n"


class TextFormatter(_Lines):
    """Sidekiq's pretty format: time, pid, tid, the context as key=value, level, message."""

    def line(
        self, created: float, level: str, message: str, context: dict[str, Any], exception: str = ""
    ) -> str:
        fields = "".join(
            [
                f"{key}={value:.3f} " if key == "elapsed" and isinstance(value, float) else f"{key}={value} "
                for key, value in context.items()
            ]
        )
        text = f"{_timestamp(created)} {_text_prefix()}{fields}{level}: {message}"
        return f"{text}\n{exception}" if exception else text

    def job_line(
        self,
        created: float,
        message: str,
        context: dict[str, Any],
        elapsed: float | None,
        fields: dict[str, Any] | None,
    ) -> str:
        # the hot path of a job's two lines, so lookups are inlined (each call costs ~0.1 us):
        # "pid=.. tid=.. class=.. jid=.. queue=.. " is kept per thread from a job's start line to its done
        # line (they share the context dict), the time to the millisecond is shared by all threads
        ident = threading.get_ident()
        last = _context_texts.get(ident)
        if last is not None and last[0] is context:
            text = last[1]
        else:
            text = _text_prefix()
            for key, value in context.items():  # a plain loop: a comprehension costs a function object
                text += f"{key}={value} "
            _context_texts[ident] = (context, text)
        if elapsed is not None:
            text += f"elapsed={elapsed:.3f} "
        if fields:
            for key, value in fields.items():
                text += f"{key}={value} "
        millis, stamp = _millisecond
        if millis != int(created * 1000):
            stamp = _timestamp(created)
        return f"{stamp} {text}INFO: {message}\n"


class JsonFormatter(_Lines):
    """Sidekiq's JSON format: {"ts", "pid", "tid", "lvl", "msg", "ctx"}; numbers stay numbers."""

    def line(
        self, created: float, level: str, message: str, context: dict[str, Any], exception: str = ""
    ) -> str:
        pid, tid = _thread_ids()
        entry: dict[str, Any] = {
            "ts": _timestamp(created),
            "pid": pid,
            "tid": tid,
            "lvl": level,
            "msg": message,
        }
        if context:
            entry["ctx"] = context
        if exception:
            entry["exception"] = exception
        return json.dumps(entry, default=str)

    def job_line(
        self,
        created: float,
        message: str,
        context: dict[str, Any],
        elapsed: float | None,
        fields: dict[str, Any] | None,
    ) -> str:
        # what line() writes, spliced from the job's context encoded once (kept per thread, as the text's)
        ident = threading.get_ident()
        last = _context_json.get(ident)
        if last is not None and last[0] is context:
            encoded = last[1]
        else:
            encoded = json.dumps(context, default=str)[1:-1]
            _context_json[ident] = (context, encoded)
        if elapsed is not None:
            encoded += f'{", " if encoded else ""}"elapsed": {round(elapsed, 3)!r}'
        if fields:
            encoded += f"{', ' if encoded else ''}{json.dumps(fields, default=str)[1:-1]}"
        pid, tid = _thread_ids()
        head = f'{{"ts": "{_timestamp(created)}", "pid": {pid}, "tid": "{tid}", "lvl": "INFO", "msg": {json.dumps(message)}'
        return f'{head}, "ctx": {{{encoded}}}}}\n' if encoded else f"{head}}}\n"


_installed: WorkerHandler | None = None


def job_line(
    message: str,
    context: dict[str, Any],
    elapsed: float | None = None,
    fields: dict[str, Any] | None = None,
    *,
    now: bool = False,
) -> None:
    """Log one of a job's INFO lines (start, done, fail) with the job's context and fields.

    The context must be the one in effect (the processor set it); elapsed (seconds, logged to the
    millisecond as Sidekiq does) and fields are this line's own. now writes it at once (a failure: a
    crash right after must not lose it).
    """
    handler = _installed
    handlers = logger.handlers
    if (  # only the worker's handler would see it, as it formats it
        handler is None
        or len(handlers) != 1
        or handlers[0] is not handler
        or logger.filters
        or handler.filters
        or logger.propagate
        or handler.formatter is not handler.lines
        or handler.level > logging.INFO
        or not logger.isEnabledFor(logging.INFO)
    ):
        if logger.isEnabledFor(logging.INFO):
            # the record carries the whole context as record.sidequest, for the user's filters
            logger.info(message, extra={"sidequest": _line_context(context, elapsed, fields)}, stacklevel=2)
            if now:
                flush()
        return
    pending = handler.pending
    pending.append(handler.lines.job_line(time.time(), message, context, elapsed, fields))
    if now or not handler.armed or len(pending) >= MAX_PENDING:
        handler.queued(now=now)


def _line_context(
    context: dict[str, Any], elapsed: float | None, fields: dict[str, Any] | None
) -> dict[str, Any]:
    if elapsed is None and not fields:
        return context
    line = dict(context)
    if elapsed is not None:
        line["elapsed"] = round(elapsed, 3)
    line.update(fields or {})
    return line


def flush() -> None:
    """Write every queued line now (before the process exits without Python's own shutdown)."""
    for handler in logger.handlers:
        handler.flush()


def _flush_before_fork() -> None:
    if _installed is not None:
        with contextlib.suppress(Exception):  # never stop a fork for a log line
            _installed.flush()


def _after_fork_in_child() -> None:
    _ids.clear()
    _prefixes.clear()
    _context_texts.clear()
    _context_json.clear()
    if _installed is not None:
        _installed._after_fork_in_child()


os.register_at_fork(before=_flush_before_fork, after_in_child=_after_fork_in_child)


def setup(log_format: str = "text", level: str = "INFO") -> None:
    """Send sidequest's logs to stderr in the chosen format (the worker calls this once).

    Users may add handlers or filters to the "sidequest" logger afterwards: they see every line.
    """
    global _installed
    if _installed is not None:
        _installed.close()  # writes what it still holds and ends its flusher thread
    handler = WorkerHandler(sys.stderr, JsonFormatter() if log_format == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    _installed = handler
