"""Payment use cases: apply a gateway's answer, and start a payment attempt.

Callbacks, the poller and "check status" race each other and repeat themselves; they all come
through `apply_result`, which settles them with one transition table (ALLOWED_FROM) and writes
the event and the outbox rows in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from payments.base import (
    ALLOWED_FROM,
    LATE_PAID_FROM,
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
    can_move,
    payment_reference,
)
from payments.orders import (
    OrderError,
    OrderStatus,
    Shop,
    customer_recipient,
    retake_stock,
)
from payments.ports import OrderRow, PaymentRow, Store

log = logging.getLogger(__name__)
S = PaymentStatus
UnitOfWork = Callable[[], AbstractAsyncContextManager[Store]]
FIRST_CHECK_AFTER = timedelta(seconds=30)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the same status again, or the same event again
    STALE = "stale"  # an older or backward status: changes nothing
    REVIEW = "review"  # kept, flagged for a person (amount mismatch, reversal)
    UNMATCHED = "unmatched"  # verified, but for no payment of ours
    REJECTED = "rejected"  # not verified: stored, never applied


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: Outcome
    payment_id: int | None
    status: PaymentStatus | None


async def apply_result(
    store: Store,
    shop: Shop,
    payment_id: int,
    result: PaymentResult,
    *,
    source: str,
    now: datetime,
    body: str | None = None,
    dedupe_key: str | None = None,
) -> Applied:
    """Apply one verified answer about one payment. Idempotent; says what it did."""
    if dedupe_key and await store.payments.event_exists(dedupe_key):
        return Applied(Outcome.DUPLICATE, payment_id, None)
    first = await store.payments.get(payment_id)
    if first is None:
        raise LookupError(f"no payment {payment_id}")
    order = await store.orders.lock(first.order_id)  # orders before payments, on every path
    payment = await store.payments.lock(payment_id)
    outcome = await _decide(store, shop, order, payment, result, now)
    await store.payments.add_event(
        payment_id=payment.id,
        gateway=payment.gateway,
        source=source,
        reference=payment.reference,
        raw_status=result.raw_status,
        status=str(result.status),
        outcome=str(outcome),
        verified=True,
        body=body,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    final = await store.payments.lock(payment_id)
    log.info(
        "payment=%s order=%s %s -> %s (%s, %s)",
        payment.reference,
        order.code,
        payment.status,
        result.status,
        outcome,
        source,
    )
    return Applied(outcome, payment.id, S(final.status))


async def _decide(
    store: Store,
    shop: Shop,
    order: OrderRow,
    payment: PaymentRow,
    result: PaymentResult,
    now: datetime,
) -> Outcome:
    old, new = S(payment.status), result.status
    if new is S.PAID and (mismatch := _mismatch(payment, result)):
        return await _review_mismatch(store, shop, payment, old, mismatch)
    if new is old:
        return Outcome.DUPLICATE
    if not can_move(old, new):
        if old is S.PAID and new in (S.FAILED, S.CANCELLED, S.EXPIRED):
            await _flag(
                store,
                shop,
                payment,
                f"gateway reports {result.raw_status or new} after paid",
                "reversal",
            )
            return Outcome.REVIEW
        return Outcome.STALE
    values: dict[str, Any] = {"next_check_at": None} if new.is_final else {}
    if new is S.PAID:
        values["paid_at"] = now
    if not await store.payments.move(payment.id, new, ALLOWED_FROM[new], **values):
        return Outcome.STALE
    await _after_move(store, shop, order, payment, old, new, now)
    return Outcome.APPLIED


def _mismatch(payment: PaymentRow, result: PaymentResult) -> str | None:
    if result.amount is not None and result.amount != payment.amount:
        return f"amount mismatch: gateway reports {result.amount}, order wants {payment.amount}"
    if result.currency is not None and result.currency.upper() != payment.currency:
        return f"currency mismatch: gateway reports {result.currency}, order is {payment.currency}"
    return None


async def _review_mismatch(
    store: Store, shop: Shop, payment: PaymentRow, old: S, reason: str
) -> Outcome:
    """A reported amount that differs is never PAID: hold it in PROCESSING for a person."""
    log.error("payment=%s %s", payment.reference, reason)
    if can_move(old, S.PROCESSING):
        await store.payments.move(payment.id, S.PROCESSING, ALLOWED_FROM[S.PROCESSING])
    await _flag(store, shop, payment, reason, "amount")
    return Outcome.REVIEW


async def _flag(store: Store, shop: Shop, payment: PaymentRow, reason: str, tag: str) -> None:
    await store.payments.update(payment.id, needs_review=True, review_reason=reason)
    payload = {"reference": payment.reference, "payment_id": payment.id, "reason": reason}
    for to in shop.merchants:
        key = f"payment:{payment.id}:review:{tag}:{to.channel}:{to.address}"
        await store.outbox.enqueue(to, "payment_review", payload, key)


async def _after_move(
    store: Store,
    shop: Shop,
    order: OrderRow,
    payment: PaymentRow,
    old: S,
    new: S,
    now: datetime,
) -> None:
    if new is S.PAID:
        await _paid(store, shop, order, payment, old, now)
    elif new in (S.FAILED, S.EXPIRED) and order.status == OrderStatus.PENDING_PAYMENT:
        await _tell_customer(store, order, payment, str(new))


async def _paid(
    store: Store, shop: Shop, order: OrderRow, payment: PaymentRow, old: S, now: datetime
) -> None:
    if old in LATE_PAID_FROM:
        await _flag(store, shop, payment, f"paid after the payment was {old}", "late")
    if order.status == OrderStatus.PENDING_PAYMENT:
        await store.orders.move(
            order.id, OrderStatus.PAID, {OrderStatus.PENDING_PAYMENT}, paid_at=now
        )
        await _tell_merchants_paid(store, shop, order, payment)
    elif order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        await _paid_after_order_closed(store, shop, order, payment, now)
    else:
        await _flag(store, shop, payment, "order was already paid: refund this payment", "twice")
    await _tell_customer(store, order, payment, "paid")


async def _paid_after_order_closed(
    store: Store, shop: Shop, order: OrderRow, payment: PaymentRow, now: datetime
) -> None:
    if await retake_stock(store, order.id):
        await store.orders.move(order.id, OrderStatus.PAID, {order.status}, paid_at=now)
        await _flag(store, shop, payment, f"paid after the order was {order.status}", "reopened")
        await _tell_merchants_paid(store, shop, order, payment)
    else:
        reason = (
            f"paid after the order was {order.status} and its stock is gone: refund or restock"
        )
        await _flag(store, shop, payment, reason, "no-stock")


async def _tell_customer(store: Store, order: OrderRow, payment: PaymentRow, what: str) -> None:
    customer = await store.orders.customer(order.customer_id)
    to = customer_recipient(customer)
    if to is None:
        return
    payload = _payment_payload(order, payment) | {"language": customer.language}
    kind = f"payment_{what}"
    await store.outbox.enqueue(to, kind, payload, f"payment:{payment.id}:{what}:customer")


async def _tell_merchants_paid(
    store: Store, shop: Shop, order: OrderRow, payment: PaymentRow
) -> None:
    payload = _payment_payload(order, payment) | {"order_id": order.id}
    for to in shop.merchants:
        key = f"payment:{payment.id}:paid:merchant:{to.channel}:{to.address}"
        await store.outbox.enqueue(to, "order_paid", payload, key)


def _payment_payload(order: OrderRow, payment: PaymentRow) -> dict[str, Any]:
    return {
        "order_code": order.code,
        "payment_id": payment.id,
        "reference": payment.reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "method": payment.method,
    }


# ---- starting a payment attempt -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    payment_id: int
    reference: str
    reused: bool  # an attempt with this method was live already: nothing new was created
    superseded: tuple[tuple[str, str | None, str], ...] = ()  # (reference, external_id, method)


async def begin_attempt(
    store: Store, order_code: str, method: MethodId, *, expiry: timedelta, now: datetime
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
    superseded = []
    for p in live:
        await store.payments.move(p.id, S.CANCELLED, ALLOWED_FROM[S.CANCELLED], next_check_at=None)
        superseded.append((p.reference, p.external_id, p.method))
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
        next_check_at=now + FIRST_CHECK_AFTER,
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
) -> PaymentRow:
    """Open an attempt, create it at the gateway, keep the instructions.

    The database is not held while the gateway answers. On an unknown outcome the attempt
    stays pending without instructions: a retry uses the same reference, and the poller asks
    about it in the meantime. A rejected request marks the attempt failed and re-raises.
    """
    async with uow() as store:
        attempt = await begin_attempt(store, order_code, method, expiry=expiry, now=now)
        payment = await store.payments.lock(attempt.payment_id)
        checkout = await _checkout(store, payment, method, callback_url, return_url)
    if attempt.reused and payment.instructions:
        return payment
    for reference, external_id, old_method in attempt.superseded:
        await _cancel_superseded(uow, shop, gateway, reference, external_id, old_method, now)
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


async def _cancel_superseded(
    uow: UnitOfWork,
    shop: Shop,
    gateway: Gateway,
    reference: str,
    external_id: str | None,
    method: str,
    now: datetime,
) -> None:
    """Best effort: if the old attempt turns out paid, apply says so and flags it."""
    old = MethodId.parse(method)
    if old.gateway != gateway.name:
        return  # the poller settles attempts at other gateways
    try:
        result = await gateway.cancel_payment(PaymentRef(reference, external_id, old))
    except PaymentError as exc:
        log.warning("payment=%s cancel at gateway failed: %s", reference, exc)
        return
    if result is not None and result.status is S.PAID:
        async with uow() as store:
            row = await store.payments.by_reference(reference)
            if row is not None:
                await apply_result(store, shop, row.id, result, source="cancel", now=now)
