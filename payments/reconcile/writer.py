"""One writer for the poller's answers, so that checks share transactions (see
payments/single_writer.py). An answer that fails on its own leaves its lease to run out."""

from __future__ import annotations

from payments.reconcile.checks import Answer, Checked, ReconcileContext, settle
from payments.single_writer import SingleWriter


class AnswerWriter:
    def __init__(self, ctx: ReconcileContext, *, size: int = 200) -> None:
        self._ctx = ctx
        self._writer: SingleWriter[Answer, Checked] = SingleWriter(
            self._settle, name="reconcile-writer", size=size
        )

    async def settle(self, answer: Answer) -> Checked:
        """Wait until this answer is applied and committed; raises what the database raised."""
        return await self._writer.submit(answer)

    async def close(self) -> None:
        await self._writer.close()

    async def _settle(self, answers: list[Answer]) -> list[Checked]:
        return await settle(self._ctx, answers)
