"""Job status for single jobs: an opt-in record of where a job is, how far it got and what it returned.

A job pushed with ``status=True`` (kept DEFAULT_TTL seconds) or ``status=<seconds>`` gets a record
(Store.put_record, so it expires on its own) written at each step: queued (at enqueue, when the client
middleware is installed; see sidequest.batches.install), running, retrying, succeeded, failed or dead.
A job reports progress with ``self.progress(40, "40 of 100 rows")`` (``sidequest.batches.progress``
in a function job). Records are written by the one process working the job, so no step needs a read.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sidequest._time import from_wire, now
from sidequest.batches import _store
from sidequest.errors import ConfigError, SidequestError
from sidequest.stores.base import Store

#: Seconds a record is kept when the job says ``status=True``.
DEFAULT_TTL = 86400
#: States after which the record no longer changes (unless an operator retries the job).
FINAL_STATES = frozenset({"succeeded", "failed", "dead"})
STATES = ("queued", "running", "retrying", "succeeded", "failed", "dead")


class WaitTimeout(SidequestError, TimeoutError):
    """wait() gave up before the job reached a final state."""


@dataclass(frozen=True)
class JobStatus:
    """Where one job is. Times are epoch seconds (None when the step has not happened)."""

    jid: str
    job_class: str
    state: str
    updated_at: float
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    retry_count: int = 0
    progress: float | None = None
    message: str = ""
    result: Any = None
    error: str = ""
    bid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES


def record_key(jid: str) -> str:
    return f"status:{jid}"


def ttl_of(option: object, job_class: str = "job") -> float:
    """Seconds to keep a record for a job's ``status`` option; ConfigError for a value that is not one."""
    if option is True:
        return float(DEFAULT_TTL)
    if isinstance(option, int | float) and not isinstance(option, bool) and option > 0:
        return float(option)
    raise ConfigError(
        f"status option of {job_class} is {option!r}; use True (keep the record {DEFAULT_TTL} s) or a "
        "number of seconds to keep it"
    )


class Tracker:
    """The record of one running job, kept by the server middleware while the job runs."""

    def __init__(self, payload: dict[str, Any], ttl: float) -> None:
        self.ttl = ttl
        self.store = _store.store()
        self.fields: dict[str, Any] = {
            "jid": payload.get("jid", ""),
            "class": payload.get("wrapped") or payload.get("class", ""),
            "state": "running",
            "queued_at": from_wire(payload.get("enqueued_at")) or from_wire(payload.get("created_at")),
            "started_at": None,
            "finished_at": None,
            "retry_count": payload.get("retry_count", 0) if "retry_count" in payload else 0,
            "progress": None,
            "message": "",
            "bid": payload.get("bid"),
        }

    def write(self, **changes: Any) -> None:
        self.fields.update(changes)
        self.fields["updated_at"] = now()
        try:
            text = json.dumps(self.fields, ensure_ascii=False)
        except (TypeError, ValueError):
            # a result that is not JSON-native is not kept; the state still is
            self.fields["result"] = None
            text = json.dumps(self.fields, ensure_ascii=False)
        self.store.put_record(record_key(str(self.fields["jid"])), text, self.ttl)


_trackers: dict[str, Tracker] = {}  # jid -> tracker of a job running in this process
_trackers_lock = threading.Lock()
_current: contextvars.ContextVar[Tracker | None] = contextvars.ContextVar("sidequest_status", default=None)


def started(tracker: Tracker) -> contextvars.Token[Tracker | None]:
    with _trackers_lock:
        _trackers[str(tracker.fields["jid"])] = tracker
    return _current.set(tracker)


def finished(tracker: Tracker, token: contextvars.Token[Tracker | None]) -> None:
    with _trackers_lock:
        _trackers.pop(str(tracker.fields["jid"]), None)
    _current.reset(token)


def progress(percent: float, message: str = "", *, jid: str | None = None) -> None:
    """Record how far the running job got (0-100) and a line saying what it is doing.

    Called from a job's code (``self.progress`` in a Job class does it for you). A job without
    ``status`` has no record, and this does nothing.
    """
    tracker = _current.get()
    if jid is not None:
        with _trackers_lock:
            tracker = _trackers.get(jid, tracker)
    if tracker is None:
        return
    tracker.write(progress=max(0.0, min(100.0, float(percent))), message=str(message))


def status(jid: str) -> JobStatus | None:
    """The job's status record, or None (no ``status`` option, never pushed, or expired)."""
    return read_status(_store.store(), jid)


def read_status(store: Store, jid: str) -> JobStatus | None:
    """status() on a given store (sidequest.api reads operators' stores through it)."""
    raw = store.get_record(record_key(jid))
    if raw is None:
        return None
    fields: dict[str, Any] = json.loads(raw)
    known = {
        "jid",
        "class",
        "state",
        "updated_at",
        "queued_at",
        "started_at",
        "finished_at",
        "retry_count",
        "progress",
        "message",
        "result",
        "error",
        "bid",
    }
    return JobStatus(
        jid=str(fields.get("jid", jid)),
        job_class=str(fields.get("class", "")),
        state=str(fields.get("state", "")),
        updated_at=float(fields.get("updated_at") or 0.0),
        queued_at=fields.get("queued_at"),
        started_at=fields.get("started_at"),
        finished_at=fields.get("finished_at"),
        retry_count=int(fields.get("retry_count") or 0),
        progress=fields.get("progress"),
        message=str(fields.get("message") or ""),
        result=fields.get("result"),
        error=str(fields.get("error") or ""),
        bid=fields.get("bid"),
        extra={k: v for k, v in fields.items() if k not in known},
    )


async def astatus(jid: str) -> JobStatus | None:
    """status() without blocking the event loop."""
    return await asyncio.to_thread(status, jid)


def wait(jid: str, timeout: float = 30.0, *, poll: float = 0.1) -> JobStatus:
    """Block until the job succeeded, failed for good or died; WaitTimeout after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = min(poll, 0.01)
    while True:
        found = status(jid)
        if found is not None and found.done:
            return found
        if time.monotonic() >= deadline:
            raise _timed_out(jid, timeout, found)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, poll)


async def await_job(jid: str, timeout: float = 30.0, *, poll: float = 0.1) -> JobStatus:
    """wait() for async code: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    delay = min(poll, 0.01)
    while True:
        found = await astatus(jid)
        if found is not None and found.done:
            return found
        if time.monotonic() >= deadline:
            raise _timed_out(jid, timeout, found)
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, poll)


def _timed_out(jid: str, timeout: float, found: JobStatus | None) -> WaitTimeout:
    where = (
        f"it is {found.state}"
        if found is not None
        else "it has no status record (was it pushed with status=True, and is a worker running?)"
    )
    return WaitTimeout(
        f"job {jid} did not finish within {timeout:g} s; {where}. Wait longer or check the worker"
    )
