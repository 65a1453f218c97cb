"""Placing, cancelling, shipping and expiring orders on a real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from payments.orders import (
    CROCKFORD,
    CartLine,
    Delivery,
    OrderError,
    Shop,
    cancel_order,
    expire_order,
    place_order,
    ship_order,
)
from storage.db import Sessions, transaction
from storage.models import Order, OrderItem, Outbox, Product
from tests.conftest import NOW, UnitOfWork, add_customer, new_order


async def stock_of(sessions: Sessions, sku: str) -> int | None:
    async with transaction(sessions) as session:
        return await session.scalar(select(Product.stock).where(Product.sku == sku))


async def count(sessions: Sessions, model: type) -> int:
    async with transaction(sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_order_totals_items_and_shipping_in_minor_units(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    cart = [CartLine("KOPI-SUSU", 2), CartLine("ROTI-BAKAR", 1), CartLine("KOPI-SUSU", 1)]
    async with uow() as store:
        order = await place_order(
            store,
            shop,
            customer_id=customer_id,
            cart=cart,
            delivery=Delivery("delivery", "Jl. Merdeka 1"),
            now=NOW,
        )
    assert order.items_total == 3 * 25000 + 22000
    assert order.shipping == 10000
    assert order.total == 107000
    assert order.expires_at == NOW + timedelta(hours=24)
    assert len(order.code) == 6 and set(order.code) <= set(CROCKFORD)
    assert await stock_of(sessions, "KOPI-SUSU") == 97
    async with transaction(sessions) as session:
        items = (await session.scalars(select(OrderItem).order_by(OrderItem.id))).all()
    assert [(i.sku, i.quantity, i.unit_price, i.line_total) for i in items] == [
        ("KOPI-SUSU", 3, 25000, 75000),
        ("ROTI-BAKAR", 1, 22000, 22000),
    ]
    assert items[0].names["id"] == "Kopi Susu"


async def test_pickup_costs_no_shipping(uow: UnitOfWork, shop: Shop, customer_id: int) -> None:
    async with uow() as store:
        order = await place_order(
            store,
            shop,
            customer_id=customer_id,
            cart=[CartLine("KOPI-HITAM", 1)],
            delivery=Delivery("pickup"),
            now=NOW,
        )
    assert (order.shipping, order.total) == (0, 18000)


@pytest.mark.parametrize(
    ("cart", "code"),
    [
        ([], "empty_cart"),
        ([CartLine("NOPE", 1)], "unknown_product"),
        ([CartLine("KOPI-SUSU", 0)], "bad_quantity"),
        ([CartLine("KOPI-SUSU", 100)], "bad_quantity"),
        ([CartLine("KOPI-SUSU", -1)], "bad_quantity"),
        ([CartLine("KOPI-SUSU", 60), CartLine("KOPI-SUSU", 60)], "bad_quantity"),
        ([CartLine("KOPI-SUSU", 1), CartLine("BIJI-TORAJA-250", 16)], "out_of_stock"),
    ],
)
async def test_a_bad_line_is_refused_with_a_readable_reason_and_nothing_is_written(
    uow: UnitOfWork,
    shop: Shop,
    customer_id: int,
    sessions: Sessions,
    cart: list[CartLine],
    code: str,
) -> None:
    with pytest.raises(OrderError) as caught:
        async with uow() as store:
            await place_order(
                store, shop, customer_id=customer_id, cart=cart, delivery=Delivery(), now=NOW
            )
    assert caught.value.code == code
    assert caught.value.message and "Traceback" not in caught.value.message
    assert await count(sessions, Order) == 0
    assert await stock_of(sessions, "KOPI-SUSU") == 100
    assert await stock_of(sessions, "BIJI-TORAJA-250") == 15


async def test_an_inactive_product_cannot_be_ordered(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            update(Product).where(Product.sku == "TEH-TARIK").values(active=False)
        )
    with pytest.raises(OrderError, match="TEH-TARIK"):
        await new_order(uow, shop, customer_id, ("TEH-TARIK", 1), now=NOW)


async def test_fifty_concurrent_checkouts_for_the_last_ten_units_make_ten_orders(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    async with transaction(sessions) as session:
        await session.execute(update(Product).where(Product.sku == "KOPI-SUSU").values(stock=10))

    async def checkout() -> str | None:
        try:
            return await new_order(uow, shop, customer_id, ("KOPI-SUSU", 1), now=NOW)
        except OrderError as exc:
            assert exc.code == "out_of_stock"
            return None

    codes = await asyncio.gather(*(checkout() for _ in range(50)))
    made = [c for c in codes if c]
    assert len(made) == 10 and len(set(made)) == 10
    assert await stock_of(sessions, "KOPI-SUSU") == 0
    assert await count(sessions, Order) == 10


async def test_order_codes_are_unique_over_many_orders(
    uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    codes = [
        await new_order(uow, shop, customer_id, ("KOPI-HITAM", 1), now=NOW) for _ in range(60)
    ]
    assert len(set(codes)) == 60


async def test_cancelling_releases_stock_and_tells_the_customer_once(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code = await new_order(uow, shop, customer_id, ("NASI-GORENG", 3), now=NOW)
    assert await stock_of(sessions, "NASI-GORENG") == 37
    async with uow() as store:
        cancelled = await cancel_order(store, code, now=NOW)
    assert cancelled.order.status == "cancelled" and cancelled.attempts == []
    assert await stock_of(sessions, "NASI-GORENG") == 40
    with pytest.raises(OrderError) as caught:
        async with uow() as store:
            await cancel_order(store, code, now=NOW)
    assert caught.value.code == "not_cancellable"
    assert await stock_of(sessions, "NASI-GORENG") == 40
    async with transaction(sessions) as session:
        kinds = list(await session.scalars(select(Outbox.kind)))
    assert kinds == ["order_cancelled"]


async def test_only_a_paid_order_can_ship(uow: UnitOfWork, shop: Shop, customer_id: int) -> None:
    code = await new_order(uow, shop, customer_id, now=NOW)
    with pytest.raises(OrderError) as caught:
        async with uow() as store:
            await ship_order(store, code, now=NOW, tracking="JNE123")
    assert caught.value.code == "not_shippable"


async def test_expiring_an_unpaid_order_releases_its_stock(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    await new_order(uow, shop, customer_id, ("PISANG-GORENG", 5), now=NOW)
    async with uow() as store:
        assert await store.orders.due_for_expiry(NOW + timedelta(hours=23), 10) == []
        due = await store.orders.due_for_expiry(NOW + timedelta(hours=25), 10)
        assert len(due) == 1
        assert await expire_order(store, due[0])
        assert not await expire_order(store, due[0])
    assert await stock_of(sessions, "PISANG-GORENG") == 60


async def test_unknown_order_code_is_a_readable_error(uow: UnitOfWork) -> None:
    with pytest.raises(OrderError) as caught:
        async with uow() as store:
            await cancel_order(store, "ZZZZZZ", now=NOW)
    assert caught.value.code == "unknown_order"


async def test_a_customer_on_the_api_channel_gets_no_outbox_rows(
    uow: UnitOfWork, shop: Shop, sessions: Sessions, catalog: None
) -> None:
    api_customer = await add_customer(sessions, "api-1", channel="api")
    code = await new_order(uow, shop, api_customer, now=NOW)
    async with uow() as store:
        await cancel_order(store, code, now=NOW)
    assert await count(sessions, Outbox) == 0
