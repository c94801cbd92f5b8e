"""How jobs join batches and report to them and to their status records.

BatchClient (client middleware, added by ``install()``, which ``Batch.jobs()`` calls): a job pushed
inside an open ``jobs()`` block gets ``"bid"`` and its jid is added to the batch *before* the push,
so no job can finish before its batch knows it; a job with ``status`` gets its "queued" record.

BatchServer (sidequest.middleware.batches, in every Config's server chain by default, since the
process that runs a batch's jobs may never have imported this module) calls run_tracked: jobs without ``bid`` or ``status`` pass straight
through, with no store call. A batch job reports success or failure to its batch after it ran; if the
process dies before that, the job is recovered and runs again, and the report is idempotent.

on_death (sidequest.middleware.batches, a death handler in every Config) calls report_death: a job that dies reports death to its batch
and "dead" (or "failed", when it is not kept in the dead set) to its status record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sidequest._time import now
from sidequest.batches import _store, status
from sidequest.batches.batch import _current, _running
from sidequest.config import Config, get_config
from sidequest.errors import ConfigError
from sidequest.stores.batches import Report


def install(config: Config | None = None) -> None:
    """Add BatchClient to the client chain (idempotent): pushes then record batches and "queued".

    Kept out of the default chain because any client middleware moves every push off the client's
    template fast path; Batch.jobs() installs it on first use.
    """
    chain = (config or get_config()).client_middleware
    if BatchClient not in chain:
        chain.add(BatchClient)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


class BatchClient:
    options: ClassVar[frozenset[str]] = frozenset({"status"})

    def call(self, job_class: str, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any:
        block = _current.get()
        option = payload.get("status")
        if block is None and not option:
            return call_next()
        _refuse_routed(queue)
        store = _store.store()
        if option:
            tracker = status.Tracker(payload, status.ttl_of(option, job_class))
            tracker.store = store
            tracker.write(state="queued")
        if block is None:
            return call_next()
        payload["bid"] = block.batch.bid
        result = call_next()
        block.joined(payload["jid"])  # added to the batch after the push, in chunks (see Block)
        return result


def _refuse_routed(queue: str) -> None:
    """Batches and status records live in this process's store, and a job reports to them from the
    store its worker fetched it from: a job that settings.queue_urls sends to another store would
    report where its batch is not, and its batch would never complete."""
    if get_config().settings.routed_url(queue) is not None:
        raise ConfigError(
            f"queue {queue!r} is routed to another store by queue_urls, and batch and status jobs must "
            "live in the store of their batch or record; use a queue of this store for them"
        )


def run_tracked(job: Any, payload: dict[str, Any], call_next: Callable[[], Any]) -> Any:
    """Run a job that has a batch or a status record, and report how it went (see BatchServer)."""
    raw_bid = payload.get("bid")
    bid = raw_bid if isinstance(raw_bid, str) and raw_bid else None
    option = payload.get("status")
    if bid and not option:
        return _run_batched(payload, bid, call_next)
    tracker: status.Tracker | None = None
    token = None
    if option:
        try:
            ttl = status.ttl_of(option)
        except Exception:
            ttl = float(status.DEFAULT_TTL)
        tracker = status.Tracker(payload, ttl)
        tracker.write(state="running", started_at=now())
        token = status.started(tracker)
    batch_token = _running.set(bid) if bid else None
    jid = str(payload.get("jid", ""))
    try:
        result = call_next()
    except BaseException as exc:
        if bid:
            store = _store.store()
            _store.deliver_fired(store, store.batch_done(bid, jid, "failure", describe(exc), now()))
        if tracker is not None:
            state = "retrying" if _will_retry(payload) else "failed"
            tracker.write(state=state, finished_at=now(), error=describe(exc))
        raise
    finally:
        if batch_token is not None:
            _running.reset(batch_token)
        if tracker is not None and token is not None:
            status.finished(tracker, token)
    if tracker is not None:
        tracker.write(state="succeeded", finished_at=now(), progress=100.0, result=result, error="")
    if bid:
        store = _store.store()
        if store.defers_batch_reports:
            # in a worker: written in the round trip of the job's acknowledgement, just before it
            store.defer_batch_done(Report(bid, jid, "success", "", now()))
        else:
            _store.deliver_fired(store, store.batch_done(bid, jid, "success", "", now()))
    return result


def _run_batched(payload: dict[str, Any], bid: str, call_next: Callable[[], Any]) -> Any:
    """run_tracked for the common case, a batch job without status: kept short, it runs per job."""
    token = _running.set(bid)
    try:
        result = call_next()
    except BaseException as exc:
        store = _store.store()
        jid = str(payload.get("jid", ""))
        _store.deliver_fired(store, store.batch_done(bid, jid, "failure", describe(exc), now()))
        raise
    finally:
        _running.reset(token)
    store = _store.store()
    if store.defers_batch_reports:
        store.defer_batch_done(Report(bid, str(payload.get("jid", "")), "success", "", now()))
    else:
        _store.deliver_fired(store, store.batch_done(bid, str(payload.get("jid", "")), "success", "", now()))
    return result


def _will_retry(payload: dict[str, Any]) -> bool:
    """Whether the retry code will schedule another try (its hooks may still decide otherwise)."""
    retry = payload.get("retry", True)
    if retry is False:
        return False
    limit = (
        retry if isinstance(retry, int) and not isinstance(retry, bool) else get_config().settings.max_retries
    )
    count = payload.get("retry_count")
    next_count = count + 1 if isinstance(count, int) else 0
    return next_count < limit


def report_death(payload: dict[str, Any], exc: BaseException) -> None:
    """Death handler: the job will not run again by itself."""
    bid = payload.get("bid")
    jid = str(payload.get("jid", ""))
    if isinstance(bid, str) and bid:
        store = _store.store()
        _store.deliver_fired(store, store.batch_done(bid, jid, "death", describe(exc), now()))
    option = payload.get("status")
    if option:
        try:
            ttl = status.ttl_of(option)
        except Exception:
            ttl = float(status.DEFAULT_TTL)
        tracker = status.Tracker(payload, ttl)
        kept = payload.get("retry") is not False and payload.get("dead") is not False
        tracker.write(state="dead" if kept else "failed", finished_at=now(), error=describe(exc))
