"""Starting a payment attempt: open it in the database, create it at the gateway, keep what
the gateway gave. The database is never held while a gateway answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from payments.base import (
    ALLOWED_FROM,
    Checkout,
    Customer,
    Gateway,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    PaymentError,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
    payment_reference,
)
from payments.orders import OrderError, OrderStatus, Shop, cancel_attempt
from payments.ports import PaymentRow, Store
from payments.service import UnitOfWork, apply_result

log = logging.getLogger(__name__)
S = PaymentStatus
FIRST_CHECK_AFTER = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Attempt:
    payment_id: int
    reference: str
    reused: bool  # an attempt with this method was live already: nothing new was created
    superseded: tuple[PaymentRow, ...] = ()  # cancelled here for this one; next at the gateway


async def begin_attempt(
    store: Store,
    order_code: str,
    method: MethodId,
    *,
    expiry: timedelta,
    now: datetime,
    first_check: timedelta = FIRST_CHECK_AFTER,
) -> Attempt:
    """Open attempt n+1 for an order, or return the live one with the same method.

    Any other live attempt is cancelled locally; the caller cancels it at its gateway. Tapping
    Pay twice quickly gives one attempt.
    """
    order = await store.orders.lock_by_code(order_code)
    if order is None:
        raise OrderError("unknown_order", f"There is no order {order_code}.")
    if order.status != OrderStatus.PENDING_PAYMENT or order.expires_at <= now:
        raise OrderError(
            "not_payable", f"Order {order.code} is {order.status}; it cannot be paid."
        )
    payments = await store.payments.of_order(order.id)
    live = [p for p in payments if not S(p.status).is_final]
    for p in live:
        if p.method == str(method) and (p.expires_at is None or p.expires_at > now):
            return Attempt(p.id, p.reference, reused=True)
    superseded = [p for p in live if await cancel_attempt(store, p)]
    attempt = max((p.attempt for p in payments), default=0) + 1
    payment = await store.payments.add(
        order_id=order.id,
        attempt=attempt,
        gateway=method.gateway,
        method=str(method),
        reference=payment_reference(order.code, attempt),
        amount=order.total,
        currency=order.currency,
        status=S.PENDING,
        expires_at=min(now + expiry, order.expires_at),
        next_check_at=now + first_check,  # the poller's first look, per method kind
        created_at=now,
    )
    return Attempt(payment.id, payment.reference, False, tuple(superseded))


async def start_payment(
    uow: UnitOfWork,
    shop: Shop,
    gateway: Gateway,
    order_code: str,
    method: MethodId,
    *,
    expiry: timedelta,
    callback_url: str,
    return_url: str | None = None,
    now: datetime,
    first_check: timedelta = FIRST_CHECK_AFTER,
) -> PaymentRow:
    """Open an attempt, create it at the gateway, keep the instructions.

    The database is not held while the gateway answers. On an unknown outcome the attempt
    stays pending without instructions: a retry uses the same reference, and the poller asks
    about it in the meantime. A rejected request marks the attempt failed and re-raises.
    """
    async with uow() as store:
        attempt = await begin_attempt(
            store, order_code, method, expiry=expiry, now=now, first_check=first_check
        )
        payment = await store.payments.lock(attempt.payment_id)
        checkout = await _checkout(store, payment, method, callback_url, return_url)
    if attempt.reused and payment.instructions:
        return payment
    # The poller settles superseded attempts at other gateways.
    await cancel_at_gateways(uow, shop, {gateway.name: gateway}, attempt.superseded, now=now)
    try:
        result = await gateway.create_payment(checkout)
    except GatewayUnavailable as exc:
        log.warning("payment=%s create: outcome unknown (%s); will retry", payment.reference, exc)
        return payment
    except GatewayRejected as exc:
        async with uow() as store:
            await store.payments.move(
                payment.id,
                S.FAILED,
                ALLOWED_FROM[S.FAILED],
                next_check_at=None,
                review_reason=exc.detail[:500],
            )
        raise
    async with uow() as store:
        return await record_created(store, shop, payment.id, result, now=now)


async def _checkout(
    store: Store, payment: PaymentRow, method: MethodId, callback_url: str, return_url: str | None
) -> Checkout:
    order = await store.orders.lock(payment.order_id)
    customer = await store.orders.customer(order.customer_id)
    return Checkout(
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        method=method,
        customer=Customer(
            name=customer.name or "Customer", phone=customer.phone, email=customer.email
        ),
        description=f"Order {order.code}",
        expires_at=payment.expires_at or order.expires_at,
        callback_url=callback_url,
        return_url=return_url,
    )


async def record_created(
    store: Store, shop: Shop, payment_id: int, result: PaymentResult, *, now: datetime
) -> PaymentRow:
    """Keep what the gateway gave us; a status other than pending goes through apply."""
    values: dict[str, Any] = {"external_id": result.external_id}
    if result.instructions is not None:
        values["instructions"] = result.instructions.to_json()
    if result.expires_at is not None:
        values["expires_at"] = result.expires_at
    await store.payments.update(payment_id, **values)
    if result.status is not S.PENDING:
        await apply_result(store, shop, payment_id, result, source="create", now=now)
    return await store.payments.lock(payment_id)


async def cancel_at_gateways(
    uow: UnitOfWork,
    shop: Shop,
    gateways: Mapping[str, Gateway],
    attempts: Iterable[PaymentRow],
    *,
    now: datetime,
) -> None:
    """Best effort, once the local cancel is committed. If the money came in meanwhile, the
    gateway's answer goes through apply, which takes it as paid and flags it for review."""
    for payment in attempts:
        gateway = gateways.get(payment.gateway)
        if gateway is None:
            continue
        ref = PaymentRef(payment.reference, payment.external_id, MethodId.parse(payment.method))
        try:
            result = await gateway.cancel_payment(ref)
        except PaymentError as exc:
            log.warning("payment=%s cancel at gateway failed: %s", payment.reference, exc)
            continue
        if result is not None and result.status is S.PAID:
            async with uow() as store:
                await apply_result(store, shop, payment.id, result, source="cancel", now=now)
