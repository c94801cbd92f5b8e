"""sidequest: background jobs for Python that speak Sidekiq's Redis format.

from sidequest import job

@job(queue="mailers", retry=5)
def send_email(body: str, to: str) -> None: ...

send_email.perform_async("hi", "a@example.com")
"""

from sidequest._version import __version__
from sidequest.client import Client, enqueue, enqueue_bulk
from sidequest.config import Config, Settings, configure, get_config
from sidequest.errors import (
    ConfigError,
    JobArgumentError,
    PayloadError,
    SidequestError,
    StoreError,
    StoreUnavailable,
    UnknownJobError,
)
from sidequest.job import Job, JobFunction, job
from sidequest.periodic import periodic

__all__ = [
    "Client",
    "Config",
    "ConfigError",
    "Job",
    "JobArgumentError",
    "JobFunction",
    "PayloadError",
    "Settings",
    "SidequestError",
    "StoreError",
    "StoreUnavailable",
    "UnknownJobError",
    "__version__",
    "configure",
    "enqueue",
    "enqueue_bulk",
    "get_config",
    "job",
    "periodic",
]
