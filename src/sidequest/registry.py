"""Job names to job definitions. Only what is registered here ever runs.

A payload's "class" is looked up in this table and nowhere else: nothing is imported by name from a
payload, so a job naming os.system is an unknown job, not a shell call. The one exception is the
fixed table BUILT_IN below: the library's own jobs live in modules a worker loads only once such a
job arrives (they would cost every worker start-up time and memory otherwise).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from sidequest._closest import close_matches
from sidequest.errors import ConfigError, UnknownJobError

if TYPE_CHECKING:
    from sidequest.job import JobDefinition

_lock = threading.Lock()
_jobs: dict[str, JobDefinition] = {}

#: The library's own jobs, and the module of ours that registers each when imported.
BUILT_IN = {"sidequest.BatchChild": "sidequest.batches.batch"}


def register(definition: JobDefinition) -> None:
    """Add a job; a second, different job under the same name is an error (it would shadow the first)."""
    with _lock:
        existing = _jobs.get(definition.name)
        if (
            existing is not None
            and existing.target is not definition.target
            and not _same_source(existing, definition)
        ):
            raise ConfigError(
                f"two jobs are registered as {definition.name!r} ({existing.describe()} and {definition.describe()}); "
                "give one of them another name= option"
            )
        _jobs[definition.name] = definition


def _same_source(a: JobDefinition, b: JobDefinition) -> bool:
    # Re-importing a module (tests, reloaders) defines the same job again; that is not a clash.
    return a.describe() == b.describe()


def lookup(name: str) -> JobDefinition:
    """The job registered as name, or UnknownJobError naming close registered names."""
    definition = _jobs.get(name)
    if definition is None:
        module = BUILT_IN.get(name)
        if module is not None:
            importlib.import_module(module)
            return _jobs[name]
        raise UnknownJobError(unknown_message(name))
    return definition


def unknown_message(name: str) -> str:
    """Why name is not runnable here, with the registered names closest to it (a typo, or the same
    function registered under another module path)."""
    registered = names()
    tails = {known.rsplit(".", 1)[-1]: known for known in registered}
    close = close_matches(name, registered, n=3, cutoff=0.6)
    same_tail = tails.get(name.rsplit(".", 1)[-1])
    if same_tail and same_tail not in close:
        close.insert(0, same_tail)
    hint = f"; registered names close to it: {', '.join(close)}" if close else ""
    return (
        f"unknown job class {name}{hint}. A job runs only in a process that imported the module defining "
        "it under that name: a worker loads it with -r module, a test or script by importing it"
    )


def find(name: str) -> JobDefinition | None:
    return _jobs.get(name)


def names() -> list[str]:
    with _lock:
        return sorted(_jobs)


def unregister(name: str) -> None:
    """Forget a job (tests that define throw-away jobs use this)."""
    with _lock:
        _jobs.pop(name, None)
