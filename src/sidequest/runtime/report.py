"""What a worker tells its operator about itself: what it runs, what it left, why it cannot start.

At start: the registered jobs with their queues, and a warning for jobs whose queue this worker does
not work (they would wait forever, silently). At the end of a --burst run: what is left and when it
comes due. And which store failures no retry can fix, so the launcher stops instead of waiting.
"""

from __future__ import annotations

import logging
import socket
import time
from urllib.parse import urlsplit

from sidequest import registry
from sidequest.errors import StoreError, StoreUnavailable
from sidequest.stores import Store, redact

logger = logging.getLogger("sidequest")


def permanent_problem(store: Store, exc: StoreError) -> str | None:
    """Why retrying cannot help, or None for an outage worth waiting out.

    Refused credentials and a bad database index come back as StoreError (not StoreUnavailable);
    a host name that does not resolve looks like an outage to the client, but at start it is a
    typo in the URL far more often than a DNS blip.
    """
    if not isinstance(exc, StoreUnavailable):
        return str(exc)
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror) and cause.errno in _UNRESOLVED:
            host = urlsplit(store.url).hostname or store.url
            return (
                f"the host name {host!r} of the store URL {redact(store.url)} does not resolve "
                f"({cause.strerror}); check the host in the URL"
            )
        cause = cause.__cause__ or cause.__context__
    return None


#: getaddrinfo's "no such name" answers (EAI_AGAIN, a temporary failure, is not one of them).
_UNRESOLVED = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def log_jobs(queues: list[str]) -> None:
    """Log the registered jobs with their queues, and warn about jobs whose queue this worker does not work."""
    jobs = []
    for name in registry.names():
        if name.startswith("sidequest."):
            continue  # the library's own jobs (batch bookkeeping, Django's task runner) are not the user's
        definition = registry.find(name)
        if definition is not None:
            jobs.append((name, str(definition.options.get("queue", "default"))))
    if not jobs:
        logger.warning("no jobs are registered: load the modules that define them with -r")
        return
    logger.info("%d job(s) registered: %s", len(jobs), ", ".join(f"{n} -> {q}" for n, q in jobs))
    unworked = [(n, q) for n, q in jobs if q not in queues]
    if unworked:
        missing = sorted({q for _, q in unworked})
        logger.warning(
            "registered jobs use queue(s) this worker does not work: %s (%s); add them with -q %s",
            ", ".join(missing),
            ", ".join(f"{n} -> {q}" for n, q in unworked),
            " -q ".join(missing),
        )


def leftovers(store: Store, queues: list[str]) -> str:
    """What a burst run leaves behind: retries and scheduled jobs with their next due time, other queues."""
    now = time.time()
    parts = []
    for name, one, many in (("retry", "retry", "retries"), ("schedule", "scheduled job", "scheduled jobs")):
        size = store.set_size(name)
        if size:
            due = store.next_due([name])
            when = f" (next in {_duration(due - now)})" if due is not None else ""
            parts.append(f"{size} {one if size == 1 else many}{when}")
    other = {name: store.queue_size(name) for name in store.queue_names() if name not in queues}
    other = {name: size for name, size in other.items() if size}
    if other:
        total = sum(other.values())
        detail = ", ".join(f"{name}: {size}" for name, size in sorted(other.items()))
        parts.append(f"{total} job{'' if total == 1 else 's'} in queues this worker does not work ({detail})")
    if not parts:
        return "nothing left"
    return "left " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"
