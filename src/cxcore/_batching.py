"""Batches from concurrent callers: each waits for its item's result, many items share one write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


def _as_is(_item: object, error: Exception) -> BaseException:
    return error


class Batcher(Generic[T, R]):
    """Writes items from concurrent callers together, one write at a time.

    The first item waiting starts a write at once; those that come while it is
    under way go together in the next, up to *limit* a write. Nothing is held
    back for more to come, so an item waits for at most the write before its own.

    Args:
        write: Writes a batch; returns, for each item in order, its result or
            the exception its caller gets.
        limit: The most items a write takes (``None``: all that wait).
        failed: The exception each caller gets when *write* itself raises
            (default: that exception).
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        limit: int | None = None,
        failed: Callable[[T, Exception], BaseException] = _as_is,
    ) -> None:
        self._write = write
        self._limit = limit
        self._failed = failed
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write *item* with whatever else is waiting; its result.

        Raises:
            BaseException: What the write gave for *item*, or what *failed* made
                of the write's own error.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                take = len(self._waiting) if self._limit is None else self._limit
                batch, self._waiting = self._waiting[:take], self._waiting[take:]
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiter gets its own error
                    for item, future in batch:
                        if not future.done():
                            future.set_exception(self._failed(item, exc))
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if future.done():  # its caller was cancelled; the write stands
                            continue
                        if isinstance(result, BaseException):
                            future.set_exception(result)
                        else:
                            future.set_result(result)
                batch = []
        except BaseException:  # cancelled: nobody is left to write the rest
            for _, future in [*batch, *self._waiting]:
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._writer = None
