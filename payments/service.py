"""Payment use cases: apply a gateway's answer, and start a payment attempt.

Callbacks, the poller and "check status" race each other and repeat themselves; they all go
through payments.rules.decide (one transition table, ALLOWED_FROM) and write the decision, its
event and its outbox rows in the caller's transaction: one at a time or in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
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
from payments.orders import OrderError, OrderStatus, Shop, retake_stock
from payments.ports import PaymentRow, Snapshot, Store
from payments.rules import Decision, Message, Outcome, decide

log = logging.getLogger(__name__)
S = PaymentStatus
UnitOfWork = Callable[[], AbstractAsyncContextManager[Store]]
FIRST_CHECK_AFTER = timedelta(seconds=30)


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
    before = await store.payments.snapshot(payment_id)
    decision = await _settled(store, decide(before, result, shop, now))
    await _write(
        store,
        {before.payment_id: before},
        {before.payment_id: decision.after},
        decision.messages,
        now,
    )
    await store.payments.add_events(
        [_event(before, result, decision.outcome, source, body, dedupe_key, now)]
    )
    _log(before, result, decision, source)
    return Applied(decision.outcome, before.payment_id, decision.after.status)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One verified gateway answer that names its payment by our reference or theirs."""

    gateway: str
    result: PaymentResult
    body: str | None = None
    dedupe_key: str | None = None
    source: str = "callback"


async def apply_batch(
    store: Store, shop: Shop, items: Sequence[BatchItem], *, now: datetime
) -> list[Applied]:
    """Apply many answers in the caller's one transaction, with a handful of statements.

    The same rules as apply_result, in arrival order; a later answer about the same payment
    sees what an earlier one did. Unknown payments are stored as unmatched events.
    """
    found = await _snapshots(store, items)
    seen = await store.payments.existing_keys([i.dedupe_key for i in items if i.dedupe_key])
    before = {snap.payment_id: snap for snap in found.values()}
    current: dict[int, Snapshot] = dict(before)
    messages: list[Message] = []
    events: list[dict[str, Any]] = []
    applied: list[Applied] = []
    for item in items:
        if item.dedupe_key in seen:
            applied.append(Applied(Outcome.DUPLICATE, None, None))
            continue
        if item.dedupe_key:
            seen.add(item.dedupe_key)
        snap = _match(found, current, item)
        if snap is None:
            events.append(_unmatched(item, now))
            applied.append(Applied(Outcome.UNMATCHED, None, None))
            continue
        decision = await _settled(store, decide(snap, item.result, shop, now))
        current[snap.payment_id] = decision.after
        messages.extend(decision.messages)
        events.append(
            _event(
                snap, item.result, decision.outcome, item.source, item.body, item.dedupe_key, now
            )
        )
        applied.append(Applied(decision.outcome, snap.payment_id, decision.after.status))
        _log(snap, item.result, decision, item.source)
    await _write(store, before, current, messages, now)
    await store.payments.add_events(events)
    return applied


async def _snapshots(store: Store, items: Sequence[BatchItem]) -> dict[tuple[str, str], Snapshot]:
    """Every payment the batch names, locked, keyed by (gateway, reference or external id)."""
    found: dict[tuple[str, str], Snapshot] = {}
    for gateway in sorted({item.gateway for item in items}):
        mine = [item.result for item in items if item.gateway == gateway]
        references = {r.reference for r in mine if r.reference}
        external_ids = {r.external_id for r in mine if r.external_id and not r.reference}
        for snap in await store.payments.snapshots(gateway, references, external_ids):
            found[(gateway, snap.reference)] = snap
            found[(gateway, f"ext:{snap.external_id}")] = snap
    return found


def _match(
    found: Mapping[tuple[str, str], Snapshot], current: Mapping[int, Snapshot], item: BatchItem
) -> Snapshot | None:
    result = item.result
    snap = found.get((item.gateway, result.reference or "")) or found.get(
        (item.gateway, f"ext:{result.external_id}")
    )
    return current[snap.payment_id] if snap is not None else None


async def _settled(store: Store, decision: Decision) -> Decision:
    """Reserve a closed order's stock again where the decision needs it, or take its plan B."""
    if decision.retake_stock and not await retake_stock(store, decision.after.order_id):
        assert decision.if_no_stock is not None
        return decision.if_no_stock
    return decision


async def _write(
    store: Store,
    before: Mapping[int, Snapshot],
    after: Mapping[int, Snapshot],
    messages: Sequence[Message],
    now: datetime,
) -> None:
    changed = [snap for pid, snap in after.items() if snap != before[pid]]
    orders = [s for s in changed if s.order_status != before[s.payment_id].order_status]
    if changed:
        await store.payments.save(changed, now)
    if orders:
        await store.orders.save_status(orders, now)
    if messages:
        await store.outbox.enqueue_many(messages)


def _event(
    snap: Snapshot,
    result: PaymentResult,
    outcome: Outcome,
    source: str,
    body: str | None,
    dedupe_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "payment_id": snap.payment_id,
        "gateway": snap.gateway,
        "source": source,
        "reference": snap.reference,
        "raw_status": result.raw_status,
        "status": str(result.status),
        "outcome": str(outcome),
        "verified": True,
        "body": body,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }


def _unmatched(item: BatchItem, now: datetime) -> dict[str, Any]:
    log.warning(
        "gateway=%s answer for unknown payment ref=%s ext=%s",
        item.gateway,
        item.result.reference,
        item.result.external_id,
    )
    return {
        "payment_id": None,
        "gateway": item.gateway,
        "source": item.source,
        "reference": item.result.reference,
        "raw_status": item.result.raw_status,
        "status": str(item.result.status),
        "outcome": str(Outcome.UNMATCHED),
        "verified": True,
        "body": item.body,
        "dedupe_key": item.dedupe_key,
        "created_at": now,
    }


def _log(snap: Snapshot, result: PaymentResult, decision: Decision, source: str) -> None:
    if decision.outcome is Outcome.REVIEW:
        log.error(
            "payment=%s order=%s review: %s",
            snap.reference,
            snap.order_code,
            "; ".join(decision.reviews),
        )
    elif decision.outcome is Outcome.APPLIED:
        log.info(
            "payment=%s order=%s %s -> %s (%s)",
            snap.reference,
            snap.order_code,
            snap.status,
            decision.after.status,
            source,
        )


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
