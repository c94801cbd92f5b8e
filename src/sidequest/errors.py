"""One exception tree, rooted at SidequestError, so callers can catch everything of ours at once."""

from __future__ import annotations


class SidequestError(Exception):
    """Base of every error sidequest raises on purpose."""


class ConfigError(SidequestError):
    """A setting, option or command-line flag is wrong; the message names it and what is allowed."""


class JobArgumentError(SidequestError, TypeError):
    """A job argument is not JSON-native; raised at enqueue time, before anything is written."""


class ScheduleError(SidequestError, TypeError, ValueError):
    """perform_in / perform_at (or at=) was given a time it cannot use; the message names the job."""


class PayloadError(SidequestError, ValueError):
    """A stored payload cannot be run: not JSON, not an object, or missing a required field."""


class UnknownJobError(SidequestError, LookupError):
    """A payload names a job class that is not registered in this process."""


class StoreError(SidequestError):
    """The store refused or failed an operation (connection lost, disk full, read-only file)."""


class StoreUnavailable(StoreError, ConnectionError):
    """The store cannot be reached; the operation may be retried once it is back."""


class StoreNotFound(StoreError):
    """An operator command named a store that does not exist (an SQLite file not there); nothing was created."""


class SchemaVersionError(StoreError):
    """An SQLite file was written by a newer sidequest than this one."""


class EmptyQueueError(SidequestError):
    """perform_one() was called in fake mode with no job waiting."""


class JobNotFound(SidequestError, LookupError):
    """An operator action named a job (by jid or set key) that is not where it was looked for."""


class ProcessNotFound(SidequestError, LookupError):
    """An operator action named a process identity that has no live heartbeat."""
