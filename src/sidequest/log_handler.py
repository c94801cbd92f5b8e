"""The worker's log handler: job lines are queued and written in batches, other records at once.

job_line (sidequest.logging) formats a job's start, done and fail lines itself and appends them to
``pending``; a flusher thread writes what is pending within FLUSH_INTERVAL in one write, so a job
costs no write and no flush of its own. Any other record is written at once, after what is pending, so
the order of lines is kept; a failure's line, a fork and the interpreter's exit (logging.shutdown
flushes every handler) write what is pending too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sidequest.logging import _Lines

#: The longest a queued job line waits before the flusher writes it (seconds).
FLUSH_INTERVAL = 0.1
#: A caller that finds this many lines queued writes them itself (the flusher is starved).
MAX_PENDING = 1000


class WorkerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The worker's handler: records are written at once, after any queued job lines (order is kept);
    job lines queued by job_line are written by a flusher thread within FLUSH_INTERVAL."""

    def __init__(self, stream: TextIO, formatter: _Lines) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        #: job_line formats with it; a formatter the user sets instead sends job lines through logging
        self.lines = formatter
        #: lines job_line queued (each with its newline), and whether the flusher was woken for them
        self.pending: deque[str] = deque()
        self.armed = False
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        """Write what is queued and end the flusher thread (setup closes the handler it replaces)."""
        self._closed = True
        self._wake.set()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(FLUSH_INTERVAL * 10)
        with contextlib.suppress(OSError, ValueError):  # its stream may be closed by now
            self.flush()
        super().close()

    def emit(self, record: logging.LogRecord) -> None:  # Handler.handle holds self.lock
        try:
            self.pending.append(self.format(record) + self.terminator)
            self._write_pending()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def queued(self, *, now: bool = False) -> None:
        """After job_line appended to pending: write now, or see that the flusher will."""
        if now or len(self.pending) >= MAX_PENDING:
            self.flush()
        elif not self.armed:
            # the flusher clears armed before it writes, so a line queued after that wakes it again
            self.armed = True
            if self._flusher is None:
                self._start_flusher()
            self._wake.set()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()

    def _write_pending(self) -> None:
        pending = self.pending
        count = len(pending)  # lines queued meanwhile wait for the next write
        if count:
            self.stream.write("".join([pending.popleft() for _ in range(count)]))
        if hasattr(self.stream, "flush"):
            self.stream.flush()

    def _start_flusher(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._flusher is None:  # another thread may have started it meanwhile
                self._flusher = threading.Thread(
                    target=self._flush_queued, name="sidequest-log-flusher", daemon=True
                )
                self._flusher.start()

    def _flush_queued(self) -> None:
        wake = self._wake
        while not self._closed:
            wake.wait()
            wake.clear()
            if self._closed:
                return  # close() writes what is left
            time.sleep(FLUSH_INTERVAL)  # let a burst of lines gather into one write
            self.armed = False
            with contextlib.suppress(Exception):  # a stream that cannot be written has no one to tell
                self.flush()

    def _after_fork_in_child(self) -> None:
        self.pending.clear()  # written by the parent before it forked
        self.armed = False
        self._wake = threading.Event()
        self._flusher = None  # threads do not survive a fork; the next line starts one
