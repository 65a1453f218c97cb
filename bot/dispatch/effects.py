"""Carrying out the conversation's effects through the payment use cases and the database.

Each effect's outcome comes back as an event for `flow.step`. A choice id is the only thing a
button carries, so every effect that names an order or payment checks that it belongs to this
customer before touching it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update

from bot.conversation.model import (
    CancelOrder,
    CancelRejected,
    CheckStatus,
    Effect,
    Event,
    LineView,
    LoadOrder,
    LoadOrders,
    NotFound,
    OrderCancelled,
    OrderLoaded,
    OrderPlaced,
    OrderRejected,
    OrdersLoaded,
    OrderView,
    PaymentRejected,
    PaymentStarted,
    PaymentView,
    PlaceOrder,
    SaveLanguage,
    StartPayment,
    StatusChecked,
)
from bot.dispatch.chats import Chat, set_language
from bot.runtime import Runtime
from payments.base import (
    BelowMinimum,
    GatewayRejected,
    MethodId,
    PaymentError,
    PhoneNotAccepted,
)
from payments.orders import CartLine, Delivery, OrderError, OrderStatus, cancel_order, place_order
from storage.db import Sessions, transaction
from storage.models import Customer, Order, OrderItem, Payment

log = logging.getLogger(__name__)
CheckNow = Callable[[Runtime, int], Awaitable[Any]]


async def run_effect(
    runtime: Runtime, chat: Chat, effect: Effect, check: CheckNow
) -> Event | None:
    match effect:
        case PlaceOrder():
            return await _place(runtime, chat, effect)
        case StartPayment(code, method):
            return await _start_payment(runtime, chat, code, method)
        case CheckStatus(payment_id, quiet):
            return await _check(runtime, chat, payment_id, quiet, check)
        case CancelOrder(code):
            return await _cancel(runtime, chat, code)
        case LoadOrders(limit):
            return await _orders(runtime, chat, limit)
        case LoadOrder(code, purpose):
            order = await _order(runtime, chat, code, with_items=True)
            return NotFound() if order is None else OrderLoaded(order, purpose)
        case SaveLanguage(language):
            await set_language(_sessions(runtime), chat.customer_id, language)
            return None
    raise TypeError(f"unknown effect {effect!r}")


def _sessions(runtime: Runtime) -> Sessions:
    assert runtime.sessions is not None, "database not started"
    return runtime.sessions


def _reader(runtime: Runtime) -> Sessions:
    """Reads only: on SQLite these never queue behind the writer."""
    return runtime.read_sessions or _sessions(runtime)


async def _place(runtime: Runtime, chat: Chat, effect: PlaceOrder) -> Event:
    delivery = Delivery(effect.delivery, effect.address or None, effect.note or None)
    try:
        async with runtime.uow() as store:
            await store.session.execute(
                update(Customer)
                .where(Customer.id == chat.customer_id)
                .values(name=effect.name or None, phone=effect.phone or None)
            )
            order = await place_order(
                store,
                runtime.shop,
                customer_id=chat.customer_id,
                cart=[CartLine(sku, qty) for sku, qty in effect.cart],
                delivery=delivery,
                now=runtime.clock(),
            )
            code = order.code
    except OrderError as exc:
        return OrderRejected(exc.code, exc.sku or "")
    log.info("order=%s placed in conversation=%s", code, chat.conversation_id)
    return OrderPlaced(code, effect.cart)


async def _start_payment(runtime: Runtime, chat: Chat, code: str, method: str) -> Event:
    if await _owned_order(runtime, chat, code) is None:
        return NotFound()
    try:
        payment = await runtime.start_payment(code, MethodId.parse(method))
    except OrderError as exc:
        return PaymentRejected(exc.code)
    except ValueError:
        return PaymentRejected("method_unavailable")
    except BelowMinimum as exc:
        log.info("order=%s %s: %s", code, method, exc.detail)
        return PaymentRejected("below_minimum")
    except PhoneNotAccepted as exc:
        log.info("order=%s %s: %s", code, method, exc.detail)
        return PaymentRejected(f"phone_{exc.country.lower()}")
    except GatewayRejected as exc:
        log.warning("order=%s %s rejected the payment: %s", code, method, exc.detail)
        return PaymentRejected("gateway_rejected")
    except PaymentError as exc:
        log.warning("order=%s %s unavailable: %s", code, method, exc.detail)
        return PaymentRejected("gateway_unavailable")
    return PaymentStarted(payment_view(payment, code))


async def _check(
    runtime: Runtime, chat: Chat, payment_id: int, quiet: bool, check: CheckNow
) -> Event:
    if await _owned_payment(runtime, chat, payment_id) is None:
        return NotFound()
    try:
        await check(runtime, payment_id)
    except PaymentError as exc:  # the stored status is still a fine answer
        log.warning("payment=%s check now failed: %s", payment_id, exc)
    found = await _owned_payment(runtime, chat, payment_id)
    assert found is not None
    return StatusChecked(payment_view(*found), quiet)


async def _cancel(runtime: Runtime, chat: Chat, code: str) -> Event:
    """Cancel a pending order and its live attempts; paid orders are the merchant's to cancel."""
    async with runtime.uow() as store:
        order = await store.orders.lock_by_code(code)
        if order is None or order.customer_id != chat.customer_id:
            return NotFound()
        if order.status != OrderStatus.PENDING_PAYMENT:
            return CancelRejected(order.code, order.status)
        cancelled = await cancel_order(store, code, now=runtime.clock(), reason="customer")
    await runtime.cancel_at_gateways(cancelled.attempts)
    return OrderCancelled(code)


async def _orders(runtime: Runtime, chat: Chat, limit: int) -> Event:
    async with transaction(_reader(runtime)) as session:
        codes = await session.scalars(
            select(Order.code)
            .where(Order.customer_id == chat.customer_id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
        wanted = list(codes)
    views = [await _order(runtime, chat, code, with_items=False) for code in wanted]
    return OrdersLoaded(tuple(v for v in views if v is not None))


async def _order(runtime: Runtime, chat: Chat, code: str, *, with_items: bool) -> OrderView | None:
    async with transaction(_reader(runtime)) as session:
        order = await session.scalar(select(Order).where(Order.code == code.strip().upper()))
        if order is None or order.customer_id != chat.customer_id:
            return None
        payment = await session.scalar(
            select(Payment).where(Payment.order_id == order.id).order_by(Payment.attempt.desc())
        )
        items: list[OrderItem] = []
        if with_items:
            query = select(OrderItem).where(OrderItem.order_id == order.id)
            items = list(await session.scalars(query.order_by(OrderItem.id)))
        return OrderView(
            code=order.code,
            status=order.status,
            total=order.total,
            currency=order.currency,
            created_at=order.created_at,
            items=tuple(LineView(dict(i.names), i.quantity, i.line_total, i.sku) for i in items),
            shipping=order.shipping,
            delivery=str((order.delivery or {}).get("method", "pickup")),
            payment=payment_view(payment, order.code) if payment else None,
            address=str((order.delivery or {}).get("address") or ""),
        )


async def _owned_order(runtime: Runtime, chat: Chat, code: str) -> Order | None:
    async with transaction(_reader(runtime)) as session:
        order = await session.scalar(select(Order).where(Order.code == code.strip().upper()))
    return order if order is not None and order.customer_id == chat.customer_id else None


async def _owned_payment(
    runtime: Runtime, chat: Chat, payment_id: int
) -> tuple[Payment, str] | None:
    async with transaction(_reader(runtime)) as session:
        row = (
            await session.execute(
                select(Payment, Order.code, Order.customer_id)
                .join(Order, Order.id == Payment.order_id)
                .where(Payment.id == payment_id)
            )
        ).one_or_none()
    if row is None or row.customer_id != chat.customer_id:
        return None
    return row[0], row.code


def payment_view(payment: Any, order_code: str) -> PaymentView:
    return PaymentView(
        id=payment.id,
        order_code=order_code,
        method=payment.method,
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        reference=payment.reference,
        expires_at=payment.expires_at,
        instructions={str(k): str(v) for k, v in (payment.instructions or {}).items()},
    )
