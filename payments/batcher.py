"""The callbacks' trips to the database, shared: verified answers queue up and are applied in
shared transactions, and the look-ups before a status query share one query.

Under load, a transaction and a dozen statements per callback is what limits throughput,
above all on SQLite, where writers take turns. Here whatever has queued while the previous
batch was committing goes into the next one, so the per-callback cost shrinks as load grows,
and every callback is still answered only once its batch is durable. A look-up alone costs
about 1 ms of CPU on aiosqlite (each step of a connection is a trip to its thread), as much
as the rest of a callback; batched, a few dozen cost about what one did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from payments.orders import Shop
from payments.ports import NamedPayment, PaymentName
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


class PaymentFinder:
    """Finds the payments that callbacks name, for the status query some gateways need."""

    def __init__(self, read_uow: UnitOfWork, *, size: int = 200) -> None:
        self._read_uow = read_uow
        self._reader: SingleWriter[PaymentName, NamedPayment | None] = SingleWriter(
            self._find, name="callback-lookup", size=size
        )

    async def find(self, name: PaymentName) -> NamedPayment | None:
        return await self._reader.submit(name)

    async def close(self) -> None:
        await self._reader.close()

    async def _find(self, names: list[PaymentName]) -> list[NamedPayment | None]:
        async with self._read_uow() as store:
            return await store.payments.named(names)
