"""Fast bulk seeding of pending payments for the benchmarks (Core inserts, explicit ids)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from payments.orders import CROCKFORD
from storage.db import make_engine, make_sessions, transaction
from storage.models import Customer, Order, OrderItem, Payment, Product

AMOUNT = 25000


async def seed_payments(
    url: str, gateway: str, count: int, *, next_check_at: datetime | None = None
) -> list[tuple[str, int]]:
    """`count` pending orders, each with one pending payment; returns (reference, amount)."""
    engine = make_engine(url, pool_size=1)
    now = datetime.now(UTC)
    try:
        async with transaction(make_sessions(engine)) as session:
            product_id, customer_id = await _product_and_customer(session)
            codes = await _fresh_codes(session, count)
            first = int(await session.scalar(select(func.max(Order.id))) or 0) + 1
            ids = range(first, first + count)
            await session.execute(
                insert(Order),
                [_order(i, c, customer_id, now) for i, c in zip(ids, codes, strict=True)],
            )
            await session.execute(insert(OrderItem), [_item(i, product_id) for i in ids])
            await session.execute(
                insert(Payment),
                [
                    _payment(i, c, gateway, now, next_check_at)
                    for i, c in zip(ids, codes, strict=True)
                ],
            )
    finally:
        await engine.dispose()
    return [(f"{code}01", AMOUNT) for code in codes]


async def _product_and_customer(session: object) -> tuple[int, int]:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    product = await session.scalar(select(Product).where(Product.sku == "BENCH"))
    if product is None:
        product = Product(
            sku="BENCH",
            category="bench",
            names={"en": "Bench"},
            descriptions={},
            price=AMOUNT,
            currency="IDR",
            stock=None,
            active=True,
        )
        session.add(product)
    customer = await session.scalar(select(Customer).where(Customer.channel_user_id == "bench"))
    if customer is None:
        customer = Customer(
            channel="telegram", channel_user_id="bench", name="Bench", language="id"
        )
        session.add(customer)
    await session.flush()
    return product.id, customer.id


async def _fresh_codes(session: object, count: int) -> list[str]:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    taken = set(await session.scalars(select(Order.code)))
    codes: list[str] = []
    while len(codes) < count:
        code = "".join(secrets.choice(CROCKFORD) for _ in range(6))
        if code not in taken:
            taken.add(code)
            codes.append(code)
    return codes


def _order(order_id: int, code: str, customer_id: int, now: datetime) -> dict[str, object]:
    return {
        "id": order_id,
        "code": code,
        "status": "pending_payment",
        "customer_id": customer_id,
        "currency": "IDR",
        "items_total": AMOUNT,
        "shipping": 0,
        "total": AMOUNT,
        "delivery": {"method": "pickup"},
        "created_at": now,
        "updated_at": now,
        "expires_at": now + timedelta(days=1),
    }


def _item(order_id: int, product_id: int) -> dict[str, object]:
    return {
        "order_id": order_id,
        "product_id": product_id,
        "sku": "BENCH",
        "names": {"en": "Bench"},
        "unit_price": AMOUNT,
        "quantity": 1,
        "line_total": AMOUNT,
    }


def _payment(
    order_id: int, code: str, gateway: str, now: datetime, next_check_at: datetime | None
) -> dict[str, object]:
    return {
        "id": order_id,
        "order_id": order_id,
        "attempt": 1,
        "gateway": gateway,
        "method": f"{gateway}:va:bca",
        "reference": f"{code}01",
        "external_id": f"ext-{code}",
        "amount": AMOUNT,
        "currency": "IDR",
        "status": "pending",
        "expires_at": now + timedelta(days=1),
        "next_check_at": next_check_at,
        "check_count": 0,
        "needs_review": False,
        "created_at": now,
        "updated_at": now,
    }
