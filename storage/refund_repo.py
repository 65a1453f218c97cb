"""Refunds as payments/refunds.py needs them: per payment, locked one at a time, and the ones
whose gateway has not answered yet (asked again by the scheduler's sweep)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Refund


class RefundRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_payment(self, payment_id: int) -> list[Refund]:
        query = select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.number)
        return list(await self._session.scalars(query))

    async def add(self, **values: Any) -> Refund:
        refund = Refund(**values)
        self._session.add(refund)
        await self._session.flush()
        return refund

    async def lock(self, refund_id: int) -> Refund | None:
        query = select(Refund).where(Refund.id == refund_id).with_for_update()
        return await self._session.scalar(query.execution_options(populate_existing=True))

    async def update(self, refund_id: int, **values: Any) -> None:
        await self._session.execute(
            update(Refund)
            .where(Refund.id == refund_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def due(self, before: datetime, limit: int) -> Sequence[int]:
        query = (
            select(Refund.id)
            .where(Refund.status == "requested", Refund.asked_at <= before)
            .order_by(Refund.asked_at)
            .limit(limit)
        )
        return list(await self._session.scalars(query))
