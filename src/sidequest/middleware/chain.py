"""An ordered chain of middleware classes, instantiated anew for every job (as Sidekiq does).

Client middleware: ``call(job_class, payload, queue, call_next)``. It may edit payload; the push happens
only if it calls ``call_next()``, so a middleware can stop a push by returning without calling it.

Server middleware: ``call(job, payload, queue, call_next)`` where job is the job instance (or the job
definition for function jobs). Not calling ``call_next()`` skips the job, which then counts as done.

A middleware class may declare ``options = frozenset({...})``: the job options it reads. Job
decorators accept those names, so a misspelled option fails at definition time.

A middleware class may also declare ``only_for = frozenset({...})``: payload keys without which it has
nothing to do. The chain then neither builds nor calls it for a payload holding none of them. Building
a middleware and a closure per job costs more than a no-op job, so a chain whose every entry is gated
this way (the default server chain: batches) runs a plain job with one dictionary look-up per key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol

from sidequest.errors import ConfigError


class ClientMiddleware(Protocol):
    options: ClassVar[frozenset[str]]

    def call(
        self, job_class: str, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]
    ) -> Any: ...


class ServerMiddleware(Protocol):
    options: ClassVar[frozenset[str]]

    def call(self, job: Any, payload: dict[str, Any], queue: str, call_next: Callable[[], Any]) -> Any: ...


class _Entry:
    __slots__ = ("klass", "args", "kwargs", "only_for")

    def __init__(self, klass: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.klass = klass
        self.args = args
        self.kwargs = kwargs
        self.only_for: frozenset[str] | None = getattr(klass, "only_for", None)

    def wanted(self, payload: dict[str, Any]) -> bool:
        only_for = self.only_for
        return only_for is None or any(key in payload for key in only_for)

    def make(self) -> Any:
        return self.klass(*self.args, **self.kwargs)


class Chain:
    """Ordered middleware; add/prepend/insert_before/insert_after/remove mirror Sidekiq's chain."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        self._owned: frozenset[str] | None = None  # owned_options(), kept until the chain changes
        # the payload keys of a chain whose every entry is gated (only_for); None when one is not
        self._gate: tuple[str, ...] | None = ()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[type]:
        return iter([entry.klass for entry in self._entries])

    def __contains__(self, klass: object) -> bool:
        return any(entry.klass is klass for entry in self._entries)

    def add(self, klass: type, *args: Any, **kwargs: Any) -> None:
        """Append klass (or move it to the end if present), built with these arguments per job."""
        with self._lock:
            self._remove(klass)
            self._entries.append(_Entry(klass, args, kwargs))
            self._changed()

    def prepend(self, klass: type, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._remove(klass)
            self._entries.insert(0, _Entry(klass, args, kwargs))
            self._changed()

    def insert_before(self, old: type, klass: type, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._remove(klass)
            self._entries.insert(self._index(old), _Entry(klass, args, kwargs))
            self._changed()

    def insert_after(self, old: type, klass: type, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._remove(klass)
            self._entries.insert(self._index(old) + 1, _Entry(klass, args, kwargs))
            self._changed()

    def remove(self, klass: type) -> None:
        with self._lock:
            self._remove(klass)

    def clear(self) -> None:
        with self._lock:
            self._entries = []
            self._changed()

    def owned_options(self) -> frozenset[str]:
        """The job options the middleware in this chain declare (their ``options`` attribute)."""
        owned = self._owned
        if owned is None:
            owned = self._owned = frozenset(
                name for entry in self._entries for name in getattr(entry.klass, "options", ())
            )
        return owned

    def invoke(self, args: tuple[Any, ...], final: Callable[[], Any]) -> tuple[bool, Any]:
        """Run final() inside every middleware; return (reached, result).

        reached is False when a middleware returned without calling call_next, so the caller can
        tell a skipped push or job from one that ran.
        """
        gate = self._gate
        if gate is not None:
            payload = args[1]
            for key in gate:
                if key in payload:
                    break
            else:  # no entry wants this payload (always so for an empty chain)
                return True, final()
        instances = [entry.make() for entry in self._entries if entry.wanted(args[1])]
        reached = False

        def step(index: int) -> Any:
            nonlocal reached
            if index == len(instances):
                reached = True
                return final()
            return instances[index].call(*args, lambda: step(index + 1))

        result = step(0)
        return reached, result

    def _remove(self, klass: type) -> None:
        self._entries = [entry for entry in self._entries if entry.klass is not klass]
        self._changed()

    def _changed(self) -> None:
        self._owned = None
        gates = [entry.only_for for entry in self._entries]
        if any(only_for is None for only_for in gates):
            self._gate = None
        else:
            self._gate = tuple(dict.fromkeys(key for only_for in gates if only_for for key in only_for))

    def _index(self, klass: type) -> int:
        for index, entry in enumerate(self._entries):
            if entry.klass is klass:
                return index
        raise ConfigError(f"{klass.__name__} is not in this middleware chain")
