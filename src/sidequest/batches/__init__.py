"""Batches, completion callbacks and job status: know when background work is done.

Batch groups jobs and fires callback jobs once on complete, success or death (batch.py); status,
wait and progress report single jobs that opted in with ``status=True`` (status.py); the middleware
that connects both to the data path is in middleware.py. docs/batches.md states the guarantees.
"""

from sidequest.batches.batch import Batch, BatchError, BatchStatus
from sidequest.batches.middleware import BatchClient, install
from sidequest.batches.status import JobStatus, WaitTimeout, astatus, await_job, progress, status, wait
from sidequest.middleware.batches import BatchServer, on_death

__all__ = [
    "Batch",
    "BatchClient",
    "BatchError",
    "BatchServer",
    "BatchStatus",
    "JobStatus",
    "WaitTimeout",
    "astatus",
    "await_job",
    "install",
    "on_death",
    "progress",
    "status",
    "wait",
]
