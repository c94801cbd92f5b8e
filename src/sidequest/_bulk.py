"""perform_bulk typed by the job's signature: each argument tuple is checked like a perform_async call.

A ParamSpec cannot be turned into a tuple type, so perform_bulk is an object whose ``__call__`` has
one overload per argument count (0 to 8), each matching the job through its ``perform_async``: a
type checker flags ``send_email.perform_bulk([(1, 2)])`` on ``(to: str, subject: str)``. Lists as
entries are accepted unchecked (their length is not a type); jobs with more than 8 parameters are
checked at run time only. Whatever the type checker says, the argument count of every entry is checked
at enqueue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from sidequest._enqueuer import Enqueuer

P = ParamSpec("P")
Moment = float | int | datetime

A1 = TypeVar("A1", contravariant=True)
A2 = TypeVar("A2", contravariant=True)
A3 = TypeVar("A3", contravariant=True)
A4 = TypeVar("A4", contravariant=True)
A5 = TypeVar("A5", contravariant=True)
A6 = TypeVar("A6", contravariant=True)
A7 = TypeVar("A7", contravariant=True)
A8 = TypeVar("A8", contravariant=True)
A1_ = TypeVar("A1_")
A2_ = TypeVar("A2_")
A3_ = TypeVar("A3_")
A4_ = TypeVar("A4_")
A5_ = TypeVar("A5_")
A6_ = TypeVar("A6_")
A7_ = TypeVar("A7_")
A8_ = TypeVar("A8_")


class _Takes0(Protocol):
    def perform_async(self, /) -> Any: ...


class _Takes1(Protocol[A1]):
    def perform_async(self, a1: A1, /) -> Any: ...


class _Takes2(Protocol[A1, A2]):
    def perform_async(self, a1: A1, a2: A2, /) -> Any: ...


class _Takes3(Protocol[A1, A2, A3]):
    def perform_async(self, a1: A1, a2: A2, a3: A3, /) -> Any: ...


class _Takes4(Protocol[A1, A2, A3, A4]):
    def perform_async(self, a1: A1, a2: A2, a3: A3, a4: A4, /) -> Any: ...


class _Takes5(Protocol[A1, A2, A3, A4, A5]):
    def perform_async(self, a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, /) -> Any: ...


class _Takes6(Protocol[A1, A2, A3, A4, A5, A6]):
    def perform_async(self, a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, /) -> Any: ...


class _Takes7(Protocol[A1, A2, A3, A4, A5, A6, A7]):
    def perform_async(self, a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, /) -> Any: ...


class _Takes8(Protocol[A1, A2, A3, A4, A5, A6, A7, A8]):
    def perform_async(self, a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, a8: A8, /) -> Any: ...


class _TakesMore(Protocol):
    def perform_async(
        self, a1: Any, a2: Any, a3: Any, a4: Any, a5: Any, a6: Any, a7: Any, a8: Any, a9: Any, /
    ) -> Any: ...


class _Bulk(Generic[P]):
    __slots__ = ("_enqueuer",)

    def __init__(self, enqueuer: Enqueuer[P]) -> None:
        self._enqueuer = enqueuer

    def perform_async(self, *args: P.args, **kwargs: P.kwargs) -> str | None:
        """The job's perform_async: the overloads of __call__ read the job's signature from it."""
        return self._enqueuer.perform_async(*args, **kwargs)


class BulkEnqueue(_Bulk[P]):
    """``job.perform_bulk(args_list, batch_size=1000, at=None)``: enqueue one job per argument tuple, one
    store round trip per batch; returns the jids in the order of args_list (None where a client
    middleware stopped a push). at: run them all then (epoch seconds or an aware datetime)."""

    __slots__ = ()

    @overload
    def __call__(
        self: _Takes0,
        args_list: Iterable[tuple[()] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes1[A1_],
        args_list: Iterable[tuple[A1_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes2[A1_, A2_],
        args_list: Iterable[tuple[A1_, A2_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes3[A1_, A2_, A3_],
        args_list: Iterable[tuple[A1_, A2_, A3_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes4[A1_, A2_, A3_, A4_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes5[A1_, A2_, A3_, A4_, A5_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes6[A1_, A2_, A3_, A4_, A5_, A6_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_, A6_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes7[A1_, A2_, A3_, A4_, A5_, A6_, A7_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_, A6_, A7_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _Takes8[A1_, A2_, A3_, A4_, A5_, A6_, A7_, A8_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_, A6_, A7_, A8_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    def __call__(
        self: _TakesMore,
        args_list: Iterable[Sequence[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    def __call__(
        self, args_list: Iterable[Sequence[Any]], *, batch_size: int = 1000, at: Moment | None = None
    ) -> list[str | None]:
        return self._enqueuer.push_bulk(args_list, batch_size=batch_size, at=at)


class AsyncBulkEnqueue(_Bulk[P]):
    """``await job.aperform_bulk(args_list, batch_size=1000, at=None)``: perform_bulk run in a worker
    thread, so the store round trips never block the event loop."""

    __slots__ = ()

    @overload
    async def __call__(
        self: _Takes0,
        args_list: Iterable[tuple[()] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes1[A1_],
        args_list: Iterable[tuple[A1_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes2[A1_, A2_],
        args_list: Iterable[tuple[A1_, A2_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes3[A1_, A2_, A3_],
        args_list: Iterable[tuple[A1_, A2_, A3_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes4[A1_, A2_, A3_, A4_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes5[A1_, A2_, A3_, A4_, A5_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes6[A1_, A2_, A3_, A4_, A5_, A6_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_, A6_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes7[A1_, A2_, A3_, A4_, A5_, A6_, A7_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_, A6_, A7_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _Takes8[A1_, A2_, A3_, A4_, A5_, A6_, A7_, A8_],
        args_list: Iterable[tuple[A1_, A2_, A3_, A4_, A5_, A6_, A7_, A8_] | list[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    @overload
    async def __call__(
        self: _TakesMore,
        args_list: Iterable[Sequence[Any]],
        *,
        batch_size: int = 1000,
        at: Moment | None = None,
    ) -> list[str | None]: ...
    async def __call__(
        self, args_list: Iterable[Sequence[Any]], *, batch_size: int = 1000, at: Moment | None = None
    ) -> list[str | None]:
        entries = list(args_list)  # read the iterable here, not in another thread
        return await asyncio.to_thread(self._enqueuer.push_bulk, entries, batch_size=batch_size, at=at)
