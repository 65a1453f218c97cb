"""The poller's SQL: leases on due payments, check bookkeeping, the outage window, alert marks.

A claim reads only due rows through the partial index on next_check_at, so a tick costs what
is due, not what is pending. On PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, so
instances that claim at the same moment take different payments; SQLite runs one writer at a
time (BEGIN IMMEDIATE), which gives the same guarantee. Core statements on the session's
connection: the poller runs them often, and the ORM's per-statement cost would dominate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import (
    Row,
    Table,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession

from payments.reconcile.ports import CallbackCounts, CheckRecord, DuePayment
from storage.db import Sessions, transaction
from storage.models import AlertMark, Order, Payment, PaymentEvent
from storage.repo import SqlStore, insert_ignoring_duplicates

P: Final = cast(Table, Payment.__table__)
LIVE: Final = ("pending", "processing")
QUERY_SOURCES: Final = ("poll", "check", "expiry", "cancel")
DUE_COLUMNS: Final = (
    P.c.id,
    P.c.order_id,
    P.c.gateway,
    P.c.method,
    P.c.reference,
    P.c.external_id,
    P.c.status,
    P.c.created_at,
    P.c.expires_at,
    P.c.checked_at,
    P.c.next_check_at,
)
TIME = P.c.next_check_at.type


def _due(row: Row[Any]) -> DuePayment:
    return DuePayment(**row._asdict())


def _at(name: str) -> Any:
    return bindparam(name, type_=TIME)


class ReconcileRepo:
    """`owner`: the instance id written into the leases it takes (storage/instances_repo.py
    frees them when that instance stops beating)."""

    def __init__(self, session: AsyncSession, owner: str | None = None) -> None:
        self._session = session
        self._postgres = session.bind.dialect.name == "postgresql"
        self._owner = owner

    async def _run(self, statement: Any, params: Any = None) -> Result[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement, params)

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[DuePayment]:
        due = (
            select(P.c.id)
            .where(P.c.next_check_at.is_not(None), P.c.next_check_at <= now)
            .order_by(P.c.next_check_at)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        claim = (
            update(P)
            .where(P.c.id.in_(due.scalar_subquery()))
            .values(next_check_at=lease_until, claimed_by=self._owner)
            .returning(*DUE_COLUMNS)
        )
        return [_due(row) for row in await self._run(claim)]

    async def defer(self, moves: Sequence[tuple[int, datetime]], lease_until: datetime) -> None:
        if moves:
            statement = (
                update(P)
                .where(P.c.id == bindparam("b_id"), P.c.next_check_at == lease_until)
                .values(next_check_at=_at("b_at"), claimed_by=None)
            )
            await self._run(statement, [{"b_id": i, "b_at": at} for i, at in moves])

    async def record_checks(self, records: Sequence[CheckRecord]) -> None:
        """Four statements at most, each for many rows (executemany)."""
        asked = [r for r in records if r.asked]
        count = {"checked_at": _at("b_now"), "check_count": P.c.check_count + 1}
        mine = P.c.next_check_at == _at("b_lease")
        later = case((mine, _at("b_next")), else_=P.c.next_check_at)
        owner = case((mine, None), else_=P.c.claimed_by)  # a lease given back has no holder
        done = {"next_check_at": None, "claimed_by": None}
        moved = {"next_check_at": later, "claimed_by": owner}
        groups = [
            ([r for r in asked if r.next_check_at is None], {**count, **done}),
            ([r for r in asked if r.next_check_at and r.lease], {**count, **moved}),
            ([r for r in asked if r.next_check_at and not r.lease], count),
            ([r for r in records if not r.asked and r.next_check_at and r.lease], moved),
        ]
        for chosen, values in groups:
            if chosen:
                statement = update(P).where(P.c.id == bindparam("b_id")).values(**values)
                await self._run(statement, [_params(r) for r in chosen])

    async def claim_check_now(
        self, payment_id: int, now: datetime, min_interval: timedelta
    ) -> DuePayment | None:
        before = await self.live_payment(payment_id)
        if before is None:
            return None
        marked = await self._run(
            update(P)
            .where(P.c.id == payment_id, P.c.status.in_(LIVE))
            .where(or_(P.c.checked_at.is_(None), P.c.checked_at <= now - min_interval))
            .values(checked_at=now)
        )
        return before if marked.rowcount == 1 else None  # type: ignore[attr-defined]

    async def live_payment(self, payment_id: int) -> DuePayment | None:
        query = select(*DUE_COLUMNS).where(P.c.id == payment_id, P.c.status.in_(LIVE))
        row = (await self._run(query)).first()
        return None if row is None else _due(row)

    async def live_payments(self, after_id: int, limit: int) -> list[DuePayment]:
        query = (
            select(*DUE_COLUMNS)
            .where(P.c.status.in_(LIVE), P.c.id > after_id)
            .order_by(P.c.id)
            .limit(limit)
        )
        return [_due(row) for row in await self._run(query)]

    async def live_payment_ids_of_order(self, order_code: str) -> list[int]:
        query = (
            select(P.c.id)
            .join(Order, Order.id == P.c.order_id)
            .where(Order.code == order_code.strip().upper(), P.c.status.in_(LIVE))
            .order_by(P.c.attempt)
        )
        return list((await self._run(query)).scalars())

    async def check_customer_soon(
        self, customer_id: int, now: datetime, min_interval: timedelta
    ) -> int:
        orders = select(Order.id).where(
            Order.customer_id == customer_id, Order.status == "pending_payment"
        )
        result = await self._run(
            update(P)
            .where(P.c.order_id.in_(orders.scalar_subquery()), P.c.status.in_(LIVE))
            .where(P.c.next_check_at.is_not(None), P.c.next_check_at > now)
            .where(or_(P.c.checked_at.is_(None), P.c.checked_at <= now - min_interval))
            .values(next_check_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def orders_to_expire(self, now: datetime, limit: int) -> list[int]:
        planned = P.c.next_check_at.is_not(None)  # the poller's final check will come
        live = exists().where(P.c.order_id == Order.id, P.c.status.in_(LIVE), planned)
        query = (
            select(Order.id)
            .where(Order.status == "pending_payment", Order.expires_at <= now, ~live)
            .order_by(Order.expires_at)
            .limit(limit)
        )
        return list((await self._run(query)).scalars())

    async def callback_counts(self, since: datetime) -> list[CallbackCounts]:
        e = PaymentEvent
        by_query = func.count().filter(
            e.source.in_(QUERY_SOURCES), e.status == "paid", e.outcome == "applied"
        )
        is_callback = e.source == "callback"
        query = (
            select(
                e.gateway,
                by_query,
                func.count().filter(is_callback, e.verified.is_(True)),
                func.count().filter(is_callback, e.verified.is_(False)),
            )
            .where(e.created_at >= since)
            .group_by(e.gateway)
        )
        rows = await self._run(query)
        return [CallbackCounts(g, int(p), int(v), int(r)) for g, p, v, r in rows]

    async def claim_alert(self, key: str, now: datetime, every: timedelta) -> bool:
        insert = insert_ignoring_duplicates(self._session, AlertMark, "key")
        first = await self._run(insert.values(key=key, raised_at=now))
        if first.rowcount == 1:  # type: ignore[attr-defined]
            return True
        again = await self._run(
            update(AlertMark)
            .where(AlertMark.key == key, AlertMark.raised_at <= now - every)
            .values(raised_at=now)
        )
        return bool(again.rowcount == 1)  # type: ignore[attr-defined]

    async def next_due_at(self) -> datetime | None:
        """The earliest planned check (for simulations that jump the clock to it)."""
        query = select(func.min(P.c.next_check_at)).where(P.c.next_check_at.is_not(None))
        value: datetime | None = (await self._run(query)).scalar()
        return value


def _params(record: CheckRecord) -> dict[str, Any]:
    return {
        "b_id": record.payment_id,
        "b_now": record.now,
        "b_next": record.next_check_at,
        "b_lease": record.lease,
    }


class ReconcileSqlStore(SqlStore):
    """The Store of payments/reconcile/ports.py over one session."""

    def __init__(self, session: AsyncSession, owner: str | None = None) -> None:
        super().__init__(session)
        self.reconcile = ReconcileRepo(session, owner)


@asynccontextmanager
async def reconcile_transaction(
    sessions: Sessions, owner: str | None = None
) -> AsyncIterator[ReconcileSqlStore]:
    async with transaction(sessions) as session:
        yield ReconcileSqlStore(session, owner)
