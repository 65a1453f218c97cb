"""Expiry: a payment is expired only after a final status check, an order once its payments
are settled; stock goes back and the customer is told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from payments.reconcile.sweeps import expire_orders
from storage.models import Order, Outbox, Payment, PaymentEvent, Product
from tests.conftest import add_customer, new_order
from tests.integration.test_reconcile import open_shop


async def test_a_payment_past_its_expiry_is_expired_after_a_final_check_with_its_order(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    gateway = h.counting()
    payment = await h.start()
    assert payment.expires_at is not None
    [(stock,)] = await h.rows(select(Product.stock).where(Product.sku == "KOPI-SUSU"))
    h.clock.now = payment.expires_at + timedelta(minutes=4)
    await h.poller.run_due()
    assert await h.status(payment.id) == "pending"  # still within the grace period
    h.clock.advance(minutes=3)  # the final check: 5 minutes after expiry, and some jitter
    await h.poller.run_due()
    assert await h.status(payment.id) == "expired"
    assert gateway.queries[payment.reference] == 2  # the last one was the final check
    events = await h.rows(
        select(PaymentEvent.source, PaymentEvent.status).order_by(PaymentEvent.id)
    )
    assert events[-2:] == [("poll", "pending"), ("expiry", "expired")]
    [(order_status,)] = await h.rows(select(Order.status))
    assert order_status == "expired"
    assert await h.rows(select(Product.stock).where(Product.sku == "KOPI-SUSU")) == [(stock + 2,)]
    assert await h.outbox() == ["order_expired"]  # not "pay again" for an order that is gone
    assert h.runtime.sandbox is not None
    assert h.runtime.sandbox.payments[payment.reference].status == "CANCELLED"


async def test_a_payment_expiring_before_its_order_tells_the_customer_to_pay_again(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url, expiry=3 * 3600)
    payment = await h.start("sandbox:qris")
    assert payment.expires_at is not None
    await h.run_until_idle(until=payment.expires_at + timedelta(minutes=10))
    assert await h.status(payment.id) == "expired"
    [(order_status,)] = await h.rows(select(Order.status))
    assert order_status == "pending_payment"
    assert await h.outbox() == ["payment_expired", "payment_reminder"]
    [(payload,)] = await h.rows(select(Outbox.payload).where(Outbox.kind == "payment_expired"))
    assert payload["order_code"] and payload["reference"] == payment.reference


async def test_money_that_came_in_before_the_final_check_is_confirmed_not_expired(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    payment = await h.start()
    assert payment.expires_at is not None
    h.clock.now = payment.expires_at - timedelta(minutes=1)
    await h.poller.run_due()
    h.pay(payment.reference)  # a minute before expiry
    await h.run_until_idle(until=payment.expires_at + timedelta(hours=1))
    assert await h.status(payment.id) == "paid"
    assert await h.outbox() == ["order_paid", "payment_paid", "payment_reminder"]


async def test_a_va_paid_at_hour_20_of_24_is_confirmed_within_15_minutes(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    gateway = h.counting()
    payment = await h.start("sandbox:va:bca")
    await h.run_until_idle(until=h.clock() + timedelta(hours=20))
    h.pay(payment.reference)
    paid_at = h.clock()
    await h.run_until_idle(until=paid_at + timedelta(minutes=15) * 1.1)
    assert await h.status(payment.id) == "paid"
    assert gateway.queries[payment.reference] <= 120


async def test_an_unpaid_order_past_its_expiry_is_expired_and_its_stock_released(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    assert h.runtime.sessions is not None
    customer = await add_customer(h.runtime.sessions)
    await new_order(h.runtime.uow, h.runtime.shop, customer, ("ROTI-BAKAR", 3), now=h.clock())
    [(stock,)] = await h.rows(select(Product.stock).where(Product.sku == "ROTI-BAKAR"))
    assert await expire_orders(h.poller.ctx) == 0
    h.clock.advance(hours=24, seconds=1)
    assert await expire_orders(h.poller.ctx) == 1
    assert await expire_orders(h.poller.ctx) == 0
    [(order_status,)] = await h.rows(select(Order.status))
    assert order_status == "expired"
    assert await h.rows(select(Product.stock).where(Product.sku == "ROTI-BAKAR")) == [(stock + 3,)]
    assert await h.outbox() == ["order_expired"]


async def test_an_order_with_an_open_payment_waits_for_that_payments_final_check(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    payment = await h.start()
    assert payment.expires_at is not None
    h.clock.now = payment.expires_at - timedelta(minutes=1)
    h.pay(payment.reference)  # in the last minute; nobody asks about it before the final check
    h.clock.now = payment.expires_at + timedelta(minutes=1)
    assert await expire_orders(h.poller.ctx) == 0
    h.clock.advance(minutes=6)
    await h.poller.run_due()
    [(order_status,)] = await h.rows(select(Order.status))
    assert order_status == "paid"
    assert await h.rows(select(Payment.needs_review)) == [(False,)]
