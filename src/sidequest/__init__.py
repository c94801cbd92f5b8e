"""sidequest: background jobs for Python that speak Sidekiq's Redis format.

from sidequest import job

@job(queue="mailers", retry=5)
def send_email(body: str, to: str) -> None: ...

send_email.perform_async("hi", "a@example.com")

Internals (payload, registry, client, runtime, stores) are importable but not public API; what is
public is listed in __all__, sidequest.testing and sidequest.middleware.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sidequest import config as _config
from sidequest._version import __version__
from sidequest.client import Client, enqueue, enqueue_bulk
from sidequest.config import Config, get_config
from sidequest.errors import ConfigError, JobArgumentError, SidequestError, StoreUnavailable, UnknownJobError
from sidequest.job import Job, job
from sidequest.periodic import periodic

if TYPE_CHECKING:
    from sidequest.batches.batch import Batch
    from sidequest.batches.status import astatus, await_job, status, wait

#: Public names imported on first use: a worker that runs no batch never loads sidequest.batches.
_LAZY = {name: "sidequest.batches" for name in ("Batch", "astatus", "await_job", "status", "wait")}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sidequest' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def configure(**settings: Any) -> Config:
    """Change settings from code, e.g. ``sidequest.configure(url="redis://localhost:6379/0", concurrency=20)``.

    Settings (default; environment variables are SIDEQUEST_<NAME>, e.g. SIDEQUEST_FETCH_BATCH;
    docs/configuration.md has the TOML file and worker flags):
      url                 store: redis://..., sqlite:///file.db or memory:// (sqlite:///sidequest.db;
                          SIDEQUEST_URL, SIDEQUEST_REDIS_URL or REDIS_URL)
      namespace           prefix of every Redis key ("" ; SIDEQUEST_NAMESPACE)
      concurrency         jobs run at once per process (10; SIDEQUEST_CONCURRENCY)
      queues              queues to work, "name" or "name,weight" (default; SIDEQUEST_QUEUES)
      strict              take queues in order instead of by weight (False)
      timeout             seconds to wait for running jobs on shutdown (25; SIDEQUEST_TIMEOUT)
      max_retries         retries of a job with retry=True (25)
      dead_max_jobs       most jobs the dead set keeps (10000)
      dead_timeout        seconds the dead set keeps a job (180 days)
      heartbeat_interval  seconds between process records (10)
      process_ttl         seconds after which a silent process counts as dead (60)
      poll_interval       seconds between moves of due scheduled jobs and retries (0.5)
      fetch_batch         most jobs one fetch takes (100)
      prefetch            jobs held beyond idle threads; more saves round trips, but those jobs
                          wait behind slow ones (0; SIDEQUEST_PREFETCH)
      max_recoveries      a job whose process died under it this often goes to the dead set (3)
      sidekiq_version     Sidekiq sharing this Redis: "6", "7" or "8" ("7"; SIDEQUEST_SIDEKIQ_VERSION)
      tag, labels         shown next to this process in the Web UI ("" ; SIDEQUEST_TAG)
      log_format          "text" or "json" (text; SIDEQUEST_LOG_FORMAT)
      log_level           DEBUG, INFO, WARNING or ERROR (INFO; SIDEQUEST_LOG_LEVEL)
      job_logging         "all": start, done and fail lines per job; "failures": fail lines only
                          ("all"; SIDEQUEST_JOB_LOGGING)
      require             modules the worker imports for its jobs (none)
      processes           worker processes under one supervisor, or "auto" (1)
      max_rss_mb          restart a worker process past this many MB, with processes (0: off)
      burst_store_wait    seconds a --burst worker waits for an unreachable store, then exits 3 (30)
      periodic            schedules as {name: {cron, job, args, queue, tz, missed}}, the settings
                          file's [periodic.NAME] tables (none; docs/periodic.md)
      queue_urls          queues whose jobs live in another store, {queue: url}; a worker still
                          fetches from its own url (none; SIDEQUEST_QUEUE_URLS)
    An unknown name or a bad value raises ConfigError naming it. Job options: see help(sidequest.job).
    """
    return _config.configure(**settings)


__all__ = [
    "Batch",
    "Client",
    "Config",
    "ConfigError",
    "Job",
    "JobArgumentError",
    "SidequestError",
    "StoreUnavailable",
    "UnknownJobError",
    "__version__",
    "astatus",
    "await_job",
    "configure",
    "enqueue",
    "enqueue_bulk",
    "get_config",
    "job",
    "periodic",
    "status",
    "wait",
]
