"""Run one fetched job from raw string to outcome: the worker's side of the data path.

decode -> resolve class -> retry guard -> server middleware -> perform. The caller acknowledges the
job afterwards (Manager batches acknowledgements); a job whose failure could not be recorded is not
acknowledged, so it stays in the in-progress list and is never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sidequest import payload as wire
from sidequest._time import now
from sidequest.config import Config
from sidequest.errors import PayloadError, StoreError
from sidequest.job import JobDefinition
from sidequest.logging import _context as log_context
from sidequest.logging import job_line
from sidequest.runtime import retry
from sidequest.runtime.execute import CoroutineRunner, perform, resolve
from sidequest.runtime.metrics import JobMetrics
from sidequest.stores.base import Store, Work, invalid_payload_entry

logger = logging.getLogger("sidequest")


class Processor:
    """Executes jobs for one worker process; shared by its threads (it holds no per-job state)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        identity: str,
        run_coroutine: CoroutineRunner,
        keep_trying: Callable[[Callable[[], Any], str], Any],
    ) -> None:
        self.config = config
        self.store = store
        #: whose in-progress list the jobs are in
        self.identity = identity
        self.run_coroutine = run_coroutine
        self.keep_trying = keep_trying
        #: the monotonic start of the last beat that found our record alive (Manager.record_alive)
        self.beat_ok_at = time.monotonic()
        self._ttl = config.settings.process_ttl
        #: per-class runs, failures and time, taken by each heartbeat
        self.metrics = JobMetrics()
        #: job_logging = "failures" keeps a job's fail line and drops its start and done lines
        self._start_done_lines = config.settings.job_logging == "all"

    def process(self, work: Work) -> bool:
        """Run work; returns True when the job failed (for the failed counter).

        Returns only once the outcome is stored: done, scheduled for retry, or dead. A job that
        another process recovered while this one was unresponsive is skipped (acking it is a no-op).
        """
        if time.monotonic() - self.beat_ok_at > self._ttl and not self._still_ours(work):
            return False
        try:
            job = wire.loads(work.payload)
        except PayloadError as exc:
            self._bury_raw(work, exc)
            return True
        # the log context is set directly (job_context's generator costs more than a no-op job)
        context = {
            "class": job.get("display_class") or job.get("wrapped") or job["class"],
            "jid": job.get("jid", ""),
            "queue": work.queue,
        }
        token = log_context.set(context)
        # one instance per run: the retry hooks run on the instance that performed
        definition: JobDefinition | None = None
        instance: Any = None
        lines = self._start_done_lines and logger.isEnabledFor(logging.INFO)
        try:
            started = time.perf_counter()
            if lines:
                job_line("start", context)
            try:
                definition, instance = resolve(job)
                perform(definition, instance, job, self.config, run_coroutine=self.run_coroutine)
            except BaseException as exc:  # SystemExit, KeyboardInterrupt...: the job's failure too
                elapsed = time.perf_counter() - started
                self._failed(work, job, exc, definition, instance, context, elapsed)
                return True
            self._succeeded(job, started)
            if lines:
                job_line("done", context, time.perf_counter() - started)
            return False
        finally:
            log_context.reset(token)

    def _succeeded(self, job: dict[str, Any], started: float) -> None:
        """Count a successful run and its time for the heartbeat's metrics (Sidekiq's metrics name)."""
        self.metrics.record(job.get("wrapped") or job["class"], time.perf_counter() - started, failed=False)

    def _still_ours(self, work: Work) -> bool:
        """No heartbeat found our record alive for a whole TTL (frozen, starved or cut off), so another
        process may have recovered work already: ask the store before starting it."""
        try:
            ours = work in self.store.in_progress(self.identity)
        except StoreError:
            return True  # cannot tell: running it twice is better than losing it
        if not ours:
            logger.warning(
                "a fetched job was recovered by another process while this one was unresponsive; not running it here"
            )
        return ours

    def _failed(
        self,
        work: Work,
        job: dict[str, Any],
        exc: BaseException,
        definition: JobDefinition | None,
        instance: Any,
        context: dict[str, Any],
        elapsed: float,
    ) -> None:
        """Report, record the failure where Sidekiq would (retry set, dead set, or nowhere), then log
        the job's fail line with what happens next, written at once."""
        self.metrics.record(job.get("wrapped") or job["class"], 0.0, failed=True)  # Sidekiq's metrics name
        self.config.handle_error(exc, {"context": "Job raised exception", "job": job, "queue": work.queue})
        settings = self.config.settings
        decision = retry.decide(job, exc, definition, self.config, now(), instance=instance)
        if decision.outcome == "retry":
            raw = wire.dumps(decision.payload)
            self.keep_trying(
                lambda: self.store.add_to_set("retry", [(decision.score, raw)]), "add job to retry set"
            )
        elif decision.outcome == "dead":
            raw = wire.dumps(decision.payload)
            self.keep_trying(
                lambda: self.store.kill(raw, now(), settings.dead_max_jobs, settings.dead_timeout),
                "add job to dead set",
            )
        job_line(
            f"fail: {decision.plan()}", context, elapsed, {"retry_count": job.get("retry_count")}, now=True
        )
        if decision.outcome == "dead":
            logger.warning(
                "job %s (%s) is dead after %s retries", job.get("jid"), job["class"], job.get("retry_count")
            )

    def _bury_raw(self, work: Work, exc: PayloadError) -> None:
        """A payload we cannot run goes to the dead set wrapped with the reason (invalid_payload_entry)."""
        self.config.handle_error(
            exc, {"context": "Invalid JSON for job", "jobstr": work.payload, "queue": work.queue}
        )
        stamp = now()
        buried = invalid_payload_entry(
            work.payload,
            queue=work.queue,
            jid=wire.new_jid(),
            now=stamp,
            error_message=str(exc)[: wire.MAX_ERROR_MESSAGE],
        )
        settings = self.config.settings
        self.keep_trying(
            lambda: self.store.kill(buried, stamp, settings.dead_max_jobs, settings.dead_timeout),
            "add malformed job to dead set",
        )
        logger.warning("malformed job in queue %s moved to the dead set: %s", work.queue, exc)
