"""One writer for callbacks: verified answers queue up and are applied in shared transactions.

Under load, a transaction and a dozen statements per callback is what limits throughput,
above all on SQLite, where writers take turns. Here whatever has queued while the previous
batch was committing goes into the next one, so the per-callback cost shrinks as load grows,
and every callback is still answered only once its batch is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from payments.orders import Shop
from payments.service import Applied, BatchItem, UnitOfWork, apply_batch

log = logging.getLogger(__name__)
Waiting = tuple[BatchItem, "asyncio.Future[Applied]"]


class ApplyBatcher:
    def __init__(
        self, uow: UnitOfWork, shop: Shop, clock: Callable[[], datetime], *, size: int = 200
    ) -> None:
        self._uow, self._shop, self._clock, self._size = uow, shop, clock, size
        self._queue: asyncio.Queue[Waiting | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def apply(self, item: BatchItem) -> Applied:
        """Wait until this answer is applied and committed; raises what the database raised."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="callback-writer")
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def close(self) -> None:
        """Apply what is queued, then stop."""
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
            await self._apply(batch)

    async def _apply(self, batch: list[Waiting]) -> None:
        try:
            async with self._uow() as store:
                results = await apply_batch(
                    store, self._shop, [item for item, _ in batch], now=self._clock()
                )
        except Exception as exc:  # isolate the answer that fails, keep the rest
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning(
                "callback batch of %d failed (%s); applying one by one",
                len(batch),
                type(exc).__name__,
            )
            for waiting in batch:
                await self._apply([waiting])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[Applied], outcome: Applied | BaseException) -> None:
    if future.done():  # the caller went away (client disconnected)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
