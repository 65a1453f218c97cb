"""One writer task that groups what has queued into shared transactions.

A transaction per item costs more than the item (and on SQLite writers take turns), so
whatever queued while the previous batch was committing goes into the next one: the cost per
item shrinks as load grows, and each caller still waits until its own item is durable. The
callbacks (payments/batcher.py: their applies, and their look-ups, which are reads) and the
poller's answers (payments/reconcile/writer.py) each have one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class SingleWriter(Generic[T, R]):
    def __init__(
        self, write: Callable[[list[T]], Awaitable[Sequence[R]]], *, name: str, size: int = 200
    ) -> None:
        """`write` handles a batch in one transaction and returns one result per item."""
        self._write, self._name, self._size = write, name, size
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Wait until this item is written and committed; raises what the database raised."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._size and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    self._queue.put_nowait(None)
                    break
                batch.append(more)
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:  # isolate the item that fails, keep the rest
            if len(batch) == 1:
                _resolve(batch[0][1], exc)
                return
            log.warning(
                "%s: a batch of %d failed (%s); one by one",
                self._name,
                len(batch),
                type(exc).__name__,
            )
            for waiting in batch:
                await self._flush([waiting])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _resolve(future, result)


def _resolve(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    if future.done():  # the caller went away (a client disconnected, a check was cancelled)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
