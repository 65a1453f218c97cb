"""One writer for the poller's answers, so that checks share transactions.

A transaction per answer would cost more than the answer (and on SQLite it would keep the
callbacks' writer waiting); here whatever has queued while the previous batch was committing
is settled in the next one. Each check still waits until its own answer is durable.
"""

from __future__ import annotations

import asyncio
import logging

from payments.checks import Answer, Checked, ReconcileContext, settle

log = logging.getLogger(__name__)
Waiting = tuple[Answer, "asyncio.Future[Checked]"]


class AnswerWriter:
    def __init__(self, ctx: ReconcileContext, *, size: int = 200) -> None:
        self._ctx, self._size = ctx, size
        self._queue: asyncio.Queue[Waiting | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def settle(self, answer: Answer) -> Checked:
        """Wait until this answer is applied and committed; raises what the database raised."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="reconcile-writer")
        future: asyncio.Future[Checked] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((answer, future))
        return await future

    async def close(self) -> None:
        """Settle what is queued, then stop."""
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
            await self._settle(batch)

    async def _settle(self, batch: list[Waiting]) -> None:
        try:
            checked = await settle(self._ctx, [answer for answer, _ in batch])
        except Exception as exc:  # isolate the answer that fails; its lease runs out
            if len(batch) == 1:
                _resolve(batch[0][1], exc)
                return
            log.warning("reconcile: a batch of %d answers failed; one by one", len(batch))
            for waiting in batch:
                await self._settle([waiting])
            return
        for (_, future), outcome in zip(batch, checked, strict=True):
            _resolve(future, outcome)


def _resolve(future: asyncio.Future[Checked], outcome: Checked | BaseException) -> None:
    if future.done():  # the check was cancelled meanwhile
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
