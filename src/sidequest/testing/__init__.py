"""Testing helpers: run code that enqueues jobs without a store or a worker, then check and run the jobs.

Three modes, switched for the whole process at one seam (the client's delivery step, so everything
before it, client middleware included, runs as in production):

- ``fake``: pushes are kept in memory per job (``send_email.jobs``), to be checked with the
  assertions and run with ``drain`` / ``perform_one`` / ``drain_all``;
- ``inline``: each push runs its job at once, through the server middleware, with no retries;
- ``disabled``: the real store (the default; importing this module changes nothing).

``fake()``, ``inline()`` and ``disable()`` switch at once and also work as context managers that put
back the previous mode on exit, so nested blocks unwind in order. The pytest plugin's fixtures
(``sidequest_fake``, ``sidequest_inline``) do the same for one test. Unlike Sidekiq's block form the
switch is not thread-local: a job run by a thread the test started sees the same mode.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Literal

from sidequest.client import set_delivery_override
from sidequest.job import attach_fake_mode
from sidequest.testing.clock import Clock, Moment, clock
from sidequest.testing.fake import DEFAULT_MAX_ROUNDS, DrainLoopError, FakeQueues, JobRef, job_name, queues
from sidequest.testing.inline import InlineRunner, runner

Mode = Literal["fake", "inline", "disabled"]

# ``send_email.jobs``, ``.drain()``, ``.perform_one()``, ``.clear()`` reach these lists; the core never
# imports this package (Sidekiq likewise adds them only when sidekiq/testing is required).
attach_fake_mode(queues)

_lock = threading.Lock()
_mode: Mode = "disabled"


def _apply(new: Mode) -> Mode:
    global _mode
    targets = {"fake": queues.deliver, "inline": runner.deliver, "disabled": None}
    if new not in targets:
        raise ValueError(f"unknown testing mode {new!r}; use 'fake', 'inline' or 'disabled'")
    with _lock:
        previous, _mode = _mode, new
        set_delivery_override(targets[new])
    return previous


class ModeSwitch:
    """The result of fake() / inline() / disable(): the switch has happened; ``with`` undoes it on exit."""

    def __init__(self, new: Mode) -> None:
        self.mode: Mode = new
        self.previous: Mode = _apply(new)

    def restore(self) -> None:
        """Go back to the mode that was active before this switch."""
        _apply(self.previous)

    def __enter__(self) -> ModeSwitch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        return f"<sidequest testing mode {self.mode} (was {self.previous})>"


def fake() -> ModeSwitch:
    """Keep pushes in memory per job instead of writing them to the store."""
    return ModeSwitch("fake")


def inline() -> ModeSwitch:
    """Run each pushed job at once, in the caller's thread; its exceptions reach the caller."""
    return ModeSwitch("inline")


def disable() -> ModeSwitch:
    """Write pushes to the real store again."""
    return ModeSwitch("disabled")


def mode() -> Mode:
    """The active testing mode."""
    return _mode


# ---- fake-mode jobs (the names Job and @job functions delegate to) -------------------------------
def jobs_for(job: JobRef) -> list[dict[str, Any]]:
    """Payloads captured for job in fake mode, in enqueue order."""
    return queues.jobs_for(job)


def all_jobs(queue: str | None = None) -> list[dict[str, Any]]:
    """Every captured payload (optionally only one queue's), in enqueue order."""
    return queues.all_jobs(queue)


def dead_jobs() -> list[dict[str, Any]]:
    """Jobs that used up their retries while draining with retry=True, as the dead set would hold them."""
    return queues.dead_jobs()


def next_at(job: JobRef | None = None) -> float | None:
    """Epoch seconds at which the next captured job (of job, or of any) is due; None when none waits."""
    return queues.next_at(job)


def drain(
    job: JobRef, *, until: Moment | None = None, retry: bool = False, max_rounds: int = DEFAULT_MAX_ROUNDS
) -> int:
    """Run job's captured jobs, and those of its kind they enqueue, until none is due; returns how many ran.

    Due means: everything, unless the test clock is frozen (then: due by its time) or until is given
    (due by until: epoch seconds or an aware datetime). A job that raises is dropped and its exception propagates, as in
    Sidekiq; with retry=True failures follow the worker's retry rules and reappear as scheduled retries.
    """
    return queues.drain(job, until=until, retry=retry, max_rounds=max_rounds)


def drain_all(
    *, until: Moment | None = None, retry: bool = False, max_rounds: int = DEFAULT_MAX_ROUNDS
) -> int:
    """Like drain, for every job; raises DrainLoopError after max_rounds rounds that still left work due."""
    return queues.drain(None, until=until, retry=retry, max_rounds=max_rounds)


def perform_one(job: JobRef, *, until: Moment | None = None) -> Any:
    """Run the next due captured job of job and return its result; EmptyQueueError when none is due."""
    return queues.perform_one(job, until=until)


def clear(job: JobRef) -> None:
    """Forget job's captured jobs."""
    queues.clear(job)


def clear_all() -> None:
    """Forget every captured job, dead ones included, what inline mode ran, and the unique-job locks,
    dropped duplicates and expired jobs of testing modes."""
    queues.clear_all()
    runner.clear()
    periodic.reset()


from sidequest.testing import periodic  # noqa: E402 - periodic, unique and expiring helpers
from sidequest.testing.assertions import (  # noqa: E402 - assertions use the names above
    all_enqueued,
    assert_enqueued,
    assert_job_option,
    assert_job_options,
    assert_processed_in,
    assert_retryable,
    assert_saves_backtrace,
    at_least,
    at_most,
    exactly,
    perform_job,
    refute_enqueued,
)
from sidequest.testing.periodic import assert_dropped, assert_next_run  # noqa: E402

__all__ = [
    "Clock",
    "DrainLoopError",
    "FakeQueues",
    "InlineRunner",
    "JobRef",
    "Mode",
    "ModeSwitch",
    "all_enqueued",
    "all_jobs",
    "assert_enqueued",
    "assert_job_option",
    "assert_job_options",
    "assert_processed_in",
    "assert_retryable",
    "assert_dropped",
    "assert_next_run",
    "assert_saves_backtrace",
    "at_least",
    "at_most",
    "clear",
    "clear_all",
    "clock",
    "dead_jobs",
    "disable",
    "drain",
    "drain_all",
    "exactly",
    "fake",
    "inline",
    "job_name",
    "jobs_for",
    "mode",
    "next_at",
    "perform_job",
    "perform_one",
    "periodic",
    "queues",
    "refute_enqueued",
    "runner",
]
