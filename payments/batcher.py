"""One writer for callbacks: verified answers queue up and are applied in shared transactions.

Under load, a transaction and a dozen statements per callback is what limits throughput,
above all on SQLite, where writers take turns. Here whatever has queued while the previous
batch was committing goes into the next one, so the per-callback cost shrinks as load grows,
and every callback is still answered only once its batch is durable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from payments.orders import Shop
from payments.service import Applied, BatchItem, UnitOfWork, apply_batch
from payments.single_writer import SingleWriter


class ApplyBatcher:
    def __init__(
        self, uow: UnitOfWork, shop: Shop, clock: Callable[[], datetime], *, size: int = 200
    ) -> None:
        self._uow, self._shop, self._clock = uow, shop, clock
        self._writer: SingleWriter[BatchItem, Applied] = SingleWriter(
            self._apply, name="callback-writer", size=size
        )

    async def apply(self, item: BatchItem) -> Applied:
        """Wait until this answer is applied and committed; raises what the database raised."""
        return await self._writer.submit(item)

    async def close(self) -> None:
        """Apply what is queued, then stop."""
        await self._writer.close()

    async def _apply(self, items: list[BatchItem]) -> list[Applied]:
        async with self._uow() as store:
            return await apply_batch(store, self._shop, items, now=self._clock())
