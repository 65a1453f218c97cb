"""Repositories over one AsyncSession; the caller owns the transaction.

They satisfy the Protocols in payments/ports.py structurally. Status moves are conditional
updates, so a race between a callback and the poller settles in the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, RowMapping, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from payments.base import PaymentStatus
from payments.orders import MESSAGE_CHANNELS
from payments.ports import (
    RECEIPT_ADDRESS,
    Channel,
    NamedPayment,
    NewLine,
    PaymentName,
    Recipient,
    Snapshot,
)
from payments.rules import Message
from storage import statements
from storage.db import Sessions, transaction
from storage.models import (
    Customer,
    Order,
    OrderItem,
    Outbox,
    Payment,
    PaymentEvent,
    Product,
    utcnow,
)
from storage.refund_repo import RefundRepo


def insert_ignoring_duplicates(session: AsyncSession, table: Any, key: str) -> Insert:
    """INSERT ... ON CONFLICT (key) DO NOTHING, in this session's dialect."""
    dialect = session.bind.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=[key])


class OrderRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def products_by_sku(self, skus: Collection[str]) -> dict[str, Product]:
        rows = await self._session.scalars(select(Product).where(Product.sku.in_(list(skus))))
        return {p.sku: p for p in rows}

    async def take_stock(self, product_id: int, quantity: int) -> bool:
        result = await self._session.execute(
            update(Product)
            .where(Product.id == product_id)
            .where((Product.stock.is_(None)) | (Product.stock >= quantity))
            .values(stock=Product.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def return_stock(self, product_id: int, quantity: int) -> None:
        await self._session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock=Product.stock + quantity)
            .execution_options(synchronize_session=False)
        )

    async def code_exists(self, code: str) -> bool:
        return bool(await self._session.scalar(select(exists().where(Order.code == code))))

    async def add(
        self,
        *,
        code: str,
        customer_id: int,
        currency: str,
        lines: Sequence[NewLine],
        shipping: int,
        delivery: Mapping[str, Any],
        expires_at: datetime,
    ) -> Order:
        items = [
            OrderItem(
                product_id=line.product.id,
                sku=line.product.sku,
                names=dict(line.product.names),
                unit_price=line.product.price,
                quantity=line.quantity,
                line_total=line.product.price * line.quantity,
            )
            for line in lines
        ]
        items_total = sum(item.line_total for item in items)
        order = Order(
            code=code,
            customer_id=customer_id,
            currency=currency,
            items_total=items_total,
            shipping=shipping,
            total=items_total + shipping,
            delivery=dict(delivery),
            expires_at=expires_at,
            items=items,
        )
        self._session.add(order)
        await self._session.flush()
        return order

    async def lock(self, order_id: int) -> Order:
        query = select(Order).where(Order.id == order_id).with_for_update()
        order = await self._session.scalar(query.execution_options(populate_existing=True))
        if order is None:
            raise LookupError(f"no order {order_id}")
        return order

    async def lock_by_code(self, code: str) -> Order | None:
        query = select(Order).where(Order.code == code.strip().upper()).with_for_update()
        return await self._session.scalar(query.execution_options(populate_existing=True))

    async def lines(self, order_id: int) -> list[tuple[int, int]]:
        query = select(OrderItem.product_id, OrderItem.quantity).where(
            OrderItem.order_id == order_id
        )
        return [(row.product_id, row.quantity) for row in await self._session.execute(query)]

    async def move(
        self, order_id: int, new: str, allowed_from: Collection[str], **values: Any
    ) -> bool:
        result = await self._session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status.in_([str(s) for s in allowed_from]))
            .values(status=str(new), updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def customer(self, customer_id: int) -> Customer:
        customer = await self._session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"no customer {customer_id}")
        return customer

    async def save_status(self, snapshots: Sequence[Snapshot], now: datetime) -> None:
        rows = [
            {
                "b_id": s.order_id,
                "b_status": s.order_status,
                "b_paid": s.order_paid_at,
                "b_now": now,
            }
            for s in snapshots
        ]
        conn = await self._session.connection()
        await conn.execute(statements.SAVE_ORDER_STATUS, rows)

    async def due_for_expiry(self, now: datetime, limit: int) -> list[int]:
        query = (
            select(Order.id)
            .where(Order.status == "pending_payment", Order.expires_at <= now)
            .order_by(Order.expires_at)
            .limit(limit)
        )
        return list(await self._session.scalars(query))


class PaymentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, payment_id: int) -> Payment | None:
        return await self._session.get(Payment, payment_id)

    async def lock(self, payment_id: int) -> Payment:
        query = select(Payment).where(Payment.id == payment_id).with_for_update()
        payment = await self._session.scalar(query.execution_options(populate_existing=True))
        if payment is None:
            raise LookupError(f"no payment {payment_id}")
        return payment

    async def by_reference(self, reference: str) -> Payment | None:
        return await self._session.scalar(select(Payment).where(Payment.reference == reference))

    async def by_external_id(self, gateway: str, external_id: str) -> Payment | None:
        query = select(Payment).where(
            Payment.gateway == gateway, Payment.external_id == external_id
        )
        return await self._session.scalar(query)

    async def named(self, names: Sequence[PaymentName]) -> list[NamedPayment | None]:
        params = {
            "references": sorted({n.reference for n in names if n.reference}),
            "external_ids": sorted({n.external_id for n in names if n.external_id}),
        }
        conn = await self._session.connection()
        rows = [
            NamedPayment(*row) for row in await conn.execute(statements.NAMED_BY_EITHER, params)
        ]
        return [_pick(rows, name) for name in names]

    async def of_order(self, order_id: int) -> list[Payment]:
        query = select(Payment).where(Payment.order_id == order_id).order_by(Payment.attempt)
        return list(await self._session.scalars(query))

    async def add(self, **values: Any) -> Payment:
        payment = Payment(**values)
        self._session.add(payment)
        await self._session.flush()
        return payment

    async def update(self, payment_id: int, **values: Any) -> None:
        await self._session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )

    async def move(
        self, payment_id: int, new: str, allowed_from: Collection[str], **values: Any
    ) -> bool:
        """Apply one edge of the table. False for a duplicate, late or backward event."""
        result = await self._session.execute(
            update(Payment)
            .where(Payment.id == payment_id, Payment.status.in_([str(s) for s in allowed_from]))
            .values(status=str(new), updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def add_event(self, **values: Any) -> bool:
        if values.get("dedupe_key") is None:
            self._session.add(PaymentEvent(**values))
            await self._session.flush()
            return True
        statement = insert_ignoring_duplicates(self._session, PaymentEvent, "dedupe_key")
        result = await self._session.execute(statement.values(**values))
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def event_exists(self, dedupe_key: str) -> bool:
        query = select(exists().where(PaymentEvent.dedupe_key == dedupe_key))
        return bool(await self._session.scalar(query))

    async def existing_keys(self, keys: Collection[str]) -> set[str]:
        if not keys:
            return set()
        conn = await self._session.connection()
        rows = await conn.execute(statements.EXISTING_KEYS, {"keys": list(keys)})
        return {k for (k,) in rows if k is not None}

    async def add_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            conn = await self._session.connection()
            await conn.execute(statements.ADD_EVENTS, [dict(r) for r in rows])

    async def prune_refused(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(PaymentEvent).where(
                PaymentEvent.verified.is_(False),
                PaymentEvent.payment_id.is_(None),
                PaymentEvent.created_at < before,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def snapshot(self, payment_id: int) -> Snapshot:
        order_id = await self._session.scalar(
            select(Payment.order_id).where(Payment.id == payment_id)
        )
        if order_id is None:
            raise LookupError(f"no payment {payment_id}")
        if _dialect(self._session) == "postgresql":  # lock orders first, as every path does
            await self._session.execute(statements.LOCK_ORDERS, {"order_ids": [order_id]})
        query = (
            select(*statements.SNAPSHOT_COLUMNS)
            .join(Order, Order.id == Payment.order_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Payment.id == payment_id)
            .with_for_update(of=Payment.__table__)
        )
        conn = await self._session.connection()  # Core rows: the hot path skips the ORM
        return _snapshot((await conn.execute(query)).mappings().one())

    async def snapshots(
        self, gateway: str, references: Collection[str], external_ids: Collection[str]
    ) -> list[Snapshot]:
        named = {
            "gateway": gateway,
            "references": list(references),
            "external_ids": list(external_ids),
        }
        conn = await self._session.connection()
        if _dialect(self._session) == "postgresql":  # lock orders first, as every path does
            order_ids = list((await conn.execute(statements.ORDERS_OF_NAMED, named)).scalars())
            if order_ids:
                await conn.execute(statements.LOCK_ORDERS, {"order_ids": order_ids})
        rows = (await conn.execute(statements.SNAPSHOTS, named)).mappings()
        return [_snapshot(row) for row in rows]

    async def save(self, snapshots: Sequence[Snapshot], now: datetime) -> None:
        rows = [
            {
                "b_id": s.payment_id,
                "b_status": str(s.status),
                "b_next": s.next_check_at,
                "b_paid": s.paid_at,
                "b_review": s.needs_review,
                "b_reason": s.review_reason,
                "b_now": now,
            }
            for s in snapshots
        ]
        conn = await self._session.connection()
        await conn.execute(statements.SAVE_PAYMENT, rows)


class OutboxWriter:
    """The use cases' side of the outbox: new rows, one per dedupe key, in their transaction.
    (The worker claims and settles them through storage/outbox_repo.py OutboxLeases.)"""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(
        self, to: Recipient, kind: str, payload: Mapping[str, Any], dedupe_key: str
    ) -> bool:
        statement = insert_ignoring_duplicates(self._session, Outbox, "dedupe_key").values(
            channel=to.channel,
            address=to.address,
            kind=kind,
            payload=dict(payload),
            dedupe_key=dedupe_key,
            attempts=0,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
        result = await self._session.execute(statement)
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def enqueue_many(self, messages: Sequence[Message]) -> None:
        messages = await self._addressed(messages)
        if not messages:
            return
        now = utcnow()
        rows = [
            {
                "channel": m.to.channel,
                "address": m.to.address,
                "kind": m.kind,
                "payload": dict(m.payload),
                "dedupe_key": m.key,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for m in messages
        ]
        conn = await self._session.connection()
        await conn.execute(statements.ENQUEUE, rows)

    async def _addressed(self, messages: Sequence[Message]) -> list[Message]:
        """Receipts get their customer's email, or are left out where there is none: one
        query, and only for a batch that holds receipts."""
        receipts = [m for m in messages if _is_receipt(m)]
        if not receipts:
            return list(messages)
        order_ids = {int(m.payload["order_id"]) for m in receipts}
        rows = await self._session.execute(
            select(Order.id, Customer.email)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Order.id.in_(order_ids), Customer.email.is_not(None), Customer.email != "")
        )
        emails = {order_id: email for order_id, email in rows.tuples()}
        out = [m for m in messages if not _is_receipt(m)]
        for m in receipts:
            if email := emails.get(int(m.payload["order_id"])):
                out.append(replace(m, to=Recipient(Channel.EMAIL, email)))
        return out


def _is_receipt(message: Message) -> bool:
    return message.to.channel == Channel.EMAIL and message.to.address == RECEIPT_ADDRESS


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name


def _snapshot(row: RowMapping) -> Snapshot:
    channel, address = row["channel"], row["channel_user_id"]
    return Snapshot(
        payment_id=row["id"],
        reference=row["reference"],
        external_id=row["external_id"],
        gateway=row["gateway"],
        method=row["method"],
        amount=row["amount"],
        currency=row["currency"],
        status=PaymentStatus(row["status"]),
        next_check_at=row["next_check_at"],
        paid_at=row["paid_at"],
        needs_review=row["needs_review"],
        review_reason=row["review_reason"],
        order_id=row["order_id"],
        order_code=row["order_code"],
        order_status=row["order_status"],
        order_paid_at=row["order_paid_at"],
        customer=Recipient(channel, address) if channel in MESSAGE_CHANNELS else None,
        language=row["language"],
    )


def _pick(rows: Sequence[NamedPayment], name: PaymentName) -> NamedPayment | None:
    """Our reference first, as it names one payment of any gateway; else the gateway's id."""
    theirs = None
    for row in rows:
        if name.reference and row.reference == name.reference:
            return row
        their_id = (row.gateway, row.external_id) == (name.gateway, name.external_id)
        if theirs is None and name.external_id and their_id:
            theirs = row
    return theirs


class SqlStore:
    """The Store of payments/ports.py over one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.orders = OrderRepo(session)
        self.payments = PaymentRepo(session)
        self.outbox = OutboxWriter(session)
        self.refunds = RefundRepo(session)


@asynccontextmanager
async def store_transaction(sessions: Sessions) -> AsyncIterator[SqlStore]:
    async with transaction(sessions) as session:
        yield SqlStore(session)
