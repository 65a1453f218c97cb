"""Refunds: a merchant gives back a paid payment's money, whole or in part.

A refund is written (requested) under the order's and the payment's locks before the gateway
is asked, so two refunds of one order can never together exceed what was paid. The gateway is
asked outside any transaction; its answer settles the refund: done (the customer is told once;
a refund that completes the whole amount moves the payment to refunded, a part leaves it paid)
or failed (the merchant reads why). An answer that never came leaves it requested, and the
scheduler's sweep asks again with the same refund reference, which the gateway deduplicates.
A gateway without a refund API is refunded by hand by the merchant; the bot records that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from payments.base import (
    ALLOWED_FROM,
    Gateway,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    PaymentRef,
    PaymentStatus,
    RefundAsk,
    RefundResult,
    RefundStatus,
    refund_reference,
    refunder,
)
from payments.orders import OrderError, customer_recipient
from payments.ports import PaymentRow, RefundRow, Store

log = logging.getLogger(__name__)
R = RefundStatus
UnitOfWork = Callable[[], AbstractAsyncContextManager[Store]]
BY_HAND: Final = "refunded by hand: the gateway has no refund API here"
ASK_AGAIN_AFTER: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Opened:
    """A refund written as requested, and what its gateway needs to be asked for it."""

    refund_id: int
    gateway: str
    ref: PaymentRef
    ask: RefundAsk


async def open_refund(
    store: Store, code: str, amount: int | None, *, now: datetime, reason: str = ""
) -> Opened:
    """`amount` None: all that is left. Raises OrderError with a reason the merchant reads."""
    order = await store.orders.lock_by_code(code.strip().upper())
    if order is None:
        raise OrderError("unknown_order", f"There is no order {code}.")
    payments = await store.payments.of_order(order.id)
    paid = [p for p in payments if p.status in (PaymentStatus.PAID, PaymentStatus.REFUNDED)]
    if not paid:
        raise OrderError("not_refundable", f"Order {order.code} has no paid payment to refund.")
    payment = await store.payments.lock(paid[-1].id)
    if payment.status == PaymentStatus.REFUNDED:
        raise OrderError("not_refundable", f"Order {order.code} is refunded in full already.")
    refunds = await store.refunds.of_payment(payment.id)
    left = payment.amount - sum(r.amount for r in refunds if r.status != R.FAILED)
    if left <= 0:
        raise OrderError("not_refundable", f"Order {order.code} is refunded in full already.")
    wanted = left if amount is None else amount
    if not 0 < wanted <= left:
        message = f"At most {left} {payment.currency} of order {order.code} can be refunded."
        raise OrderError("refund_too_large", message)
    number = max((r.number for r in refunds), default=0) + 1
    row = await store.refunds.add(
        payment_id=payment.id,
        order_id=order.id,
        number=number,
        reference=refund_reference(payment.reference, number),
        amount=wanted,
        currency=payment.currency,
        status=str(R.REQUESTED),
        by_hand=False,
        reason=reason or None,
        created_at=now,
        asked_at=now,
    )
    return _opened(row, payment)


def _opened(refund: RefundRow, payment: PaymentRow) -> Opened:
    ref = PaymentRef(payment.reference, payment.external_id, MethodId.parse(payment.method))
    ask = RefundAsk(refund.reference, refund.amount, refund.currency, refund.reason or "")
    return Opened(refund.id, payment.gateway, ref, ask)


async def settle_refund(
    store: Store, refund_id: int, result: RefundResult, *, now: datetime, by_hand: bool = False
) -> bool:
    """Record the gateway's answer once; False when the refund was settled already."""
    refund = await store.refunds.lock(refund_id)
    if refund is None or refund.status != R.REQUESTED or result.status is R.REQUESTED:
        return False
    await store.refunds.update(
        refund_id,
        status=str(result.status),
        external_id=result.external_id,
        reason=result.reason or refund.reason,
        by_hand=by_hand,
        settled_at=now,
    )
    if result.status is R.DONE:
        await _done(store, refund)
    log.info("refund=%s %s: %s", refund.reference, result.status, result.reason or "-")
    return True


async def _done(store: Store, refund: RefundRow) -> None:
    # The order before the payment, as every path locks them (PaymentStore.snapshot): the
    # gateway's own "refunded" callback may be applying at this very moment.
    order = await store.orders.lock(refund.order_id)
    payment = await store.payments.lock(refund.payment_id)
    others = await store.refunds.of_payment(payment.id)
    given = refund.amount + sum(
        r.amount for r in others if r.status == R.DONE and r.id != refund.id
    )
    whole = given >= payment.amount
    if whole:
        refunded = PaymentStatus.REFUNDED
        await store.payments.move(payment.id, refunded, ALLOWED_FROM[refunded], next_check_at=None)
    customer = await store.orders.customer(order.customer_id)
    to = customer_recipient(customer)
    if to is None:
        return
    payload = {
        "order_code": order.code,
        "amount": refund.amount,
        "currency": refund.currency,
        "language": customer.language,
        "whole": whole,
    }
    await store.outbox.enqueue(to, "refund_done", payload, f"refund:{refund.id}:done:customer")


async def refund_order(
    uow: UnitOfWork,
    gateways: Mapping[str, Gateway],
    code: str,
    amount: int | None,
    *,
    now: datetime,
    reason: str = "",
) -> int:
    """Open, ask, settle: the refund's id, whatever its gateway answered."""
    async with uow() as store:
        opened = await open_refund(store, code, amount, now=now, reason=reason)
    await ask_and_settle(uow, gateways, opened, now)
    return opened.refund_id


async def ask_and_settle(
    uow: UnitOfWork, gateways: Mapping[str, Gateway], opened: Opened, now: datetime
) -> None:
    gateway = gateways.get(opened.gateway)
    api = refunder(gateway) if gateway is not None else None
    if api is None:
        async with uow() as store:
            done = RefundResult(R.DONE, reason=BY_HAND)
            await settle_refund(store, opened.refund_id, done, now=now, by_hand=True)
        return
    try:
        result = await api.refund_payment(opened.ref, opened.ask)
    except GatewayUnavailable as exc:
        log.warning("refund=%s outcome unknown, asking again later: %s", opened.ask.reference, exc)
        return
    except GatewayRejected as exc:
        result = RefundResult(R.FAILED, reason=exc.detail[:300])
    async with uow() as store:
        await settle_refund(store, opened.refund_id, result, now=now)


async def ask_again(
    uow: UnitOfWork, gateways: Mapping[str, Gateway], *, now: datetime, limit: int = 20
) -> int:
    """The sweep: refunds whose gateway never answered are asked again; how many were."""
    async with uow() as store:
        due = list(await store.refunds.due(now - ASK_AGAIN_AFTER, limit))
        opened = []
        for refund_id in due:
            refund = await store.refunds.lock(refund_id)
            if refund is None or refund.status != R.REQUESTED:
                continue
            await store.refunds.update(refund_id, asked_at=now)
            payment = await store.payments.lock(refund.payment_id)
            opened.append(_opened(refund, payment))
    for one in opened:
        await ask_and_settle(uow, gateways, one, now)
    return len(opened)
