"""Asking a gateway about a payment, and acting on the answers: the poller's unit of work, and
the "check status" button's.

Asking happens outside any transaction. The answers are then settled together, in one
transaction, through `apply_batch`: the same rules as a callback, so whichever path sees PAID
first tells the customer, once. A payment still pending at its final check is expired here
(its order first, when that is past its own expiry) and then cancelled at the gateway.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any, Final

from payments.base import (
    Gateway,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    PaymentError,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
)
from payments.orders import OrderStatus, Shop, customer_recipient, expire_order
from payments.reconcile.ports import (
    CheckRecord,
    DuePayment,
    ReconcileStore,
    ReconcileUnitOfWork,
)
from payments.reconcile.schedule import (
    Nudge,
    Policy,
    Timeline,
    is_final_check,
    next_check_at,
    nudge_due,
)
from payments.reconcile.throttle import Throttle
from payments.service import Applied, BatchItem, apply_batch, apply_result
from payments.status_query import CHECK_STATUS, POLLER, Observe, Source, query_status

log = logging.getLogger(__name__)
S = PaymentStatus
# The stored source of an answer ("poll", "check") -> who asked, for query_status.
_QUERY_SOURCE: Final[Mapping[str, Source]] = {"poll": POLLER, "check": CHECK_STATUS}


@dataclass(frozen=True)
class ReconcileContext:
    """Everything a check needs; one per process, shared by the poller and "check status"."""

    uow: ReconcileUnitOfWork
    shop: Shop
    gateways: Mapping[str, Gateway]
    clock: Callable[[], datetime]
    policy: Policy = field(default_factory=Policy)
    throttle: Throttle = field(default_factory=Throttle)
    random: Random = field(default_factory=Random)
    observe: Observe | None = None  # every status query: bot/metrics.py counts them

    @property
    def counts(self) -> Counter[str]:
        """Checks, changes, deferrals, circuits opened and closed, alerts: for /metrics."""
        return self.throttle.counts

    def now(self) -> float:
        return self.clock().timestamp()


@dataclass(frozen=True, slots=True)
class Answer:
    """What asking brought: a result, or the error and when the gateway may be asked again."""

    due: DuePayment
    lease: datetime | None  # the poller's claim; None for "check status" and --once
    source: str
    result: PaymentResult | None = None
    error: PaymentError | None = None
    resume: float | None = None  # when the gateway may be asked again (paused, rate limited)


@dataclass(frozen=True, slots=True)
class Checked:
    """What one check did; `before`/`after` are our statuses, `error` why there is no answer."""

    payment_id: int
    reference: str
    method: str
    before: S
    after: S
    asked: bool
    error: str | None = None
    expired: bool = False  # expired here at its final check: to be cancelled at the gateway

    @property
    def changed(self) -> bool:
        return self.before is not self.after


def timeline(due: DuePayment) -> Timeline:
    return Timeline(MethodId.parse(due.method).kind, due.created_at, due.expires_at)


def payment_ref(due: DuePayment) -> PaymentRef:
    return PaymentRef(due.reference, due.external_id, MethodId.parse(due.method))


async def ask(
    ctx: ReconcileContext, due: DuePayment, lease: datetime | None, source: str
) -> Answer:
    """Ask the gateway; its throttle admitted this request already and hear how it went."""
    throttle = ctx.throttle.of(due.gateway)
    gateway = ctx.gateways.get(due.gateway)
    if gateway is None:
        throttle.abandon()
        error = GatewayRejected(due.gateway, "gateway not configured")
        return Answer(due, lease, source, error=error)
    asker = _QUERY_SOURCE.get(source, POLLER)
    try:
        result = await query_status(gateway, payment_ref(due), source=asker, observe=ctx.observe)
    except GatewayUnavailable as exc:
        resume = throttle.done(ctx.now(), ok=False, retry_after=exc.retry_after)
        return Answer(due, lease, source, error=exc, resume=resume)
    except GatewayRejected as exc:
        throttle.done(ctx.now(), ok=True)  # it answered; our request is what is wrong
        log.error("payment=%s status query rejected: %s", due.reference, exc)
        return Answer(due, lease, source, error=exc)
    except BaseException:
        throttle.abandon()
        raise
    throttle.done(ctx.now(), ok=True)
    ctx.counts["checks"] += 1
    return Answer(due, lease, source, result=result)


async def settle(ctx: ReconcileContext, answers: Sequence[Answer]) -> list[Checked]:
    """Apply the answers and schedule what comes next, in one transaction."""
    if not answers:
        return []
    now = ctx.clock()
    answered = [(i, a) for i, a in enumerate(answers) if a.result is not None]
    items = [
        BatchItem(a.due.gateway, a.result, source=a.source, asked_about=a.due.reference)
        for _, a in answered
        if a.result
    ]
    outcomes: dict[int, tuple[Checked, CheckRecord]] = {}
    async with ctx.uow() as store:
        applied = await apply_batch(store, ctx.shop, items, now=now) if items else []
        for (i, answer), done in zip(answered, applied, strict=True):
            outcomes[i] = await _after_answer(ctx, store, answer, done, now)
        for i, answer in enumerate(answers):
            if answer.result is None:
                outcomes[i] = await _after_no_answer(ctx, store, answer, now)
        await store.reconcile.record_checks([outcomes[i][1] for i in range(len(answers))])
    checked = [outcomes[i][0] for i in range(len(answers))]
    for answer, outcome in zip(answers, checked, strict=True):
        if outcome.expired:
            await cancel_at_gateway(ctx, answer.due)
    return checked


async def _after_answer(
    ctx: ReconcileContext, store: ReconcileStore, answer: Answer, done: Applied, now: datetime
) -> tuple[Checked, CheckRecord]:
    due, result = answer.due, answer.result
    assert result is not None
    t = timeline(due)
    after = done.status or S(due.status)
    expired = False
    if result.status.is_final or after.is_final:
        next_at = None  # the gateway's word is final: nothing more to ask
    elif result.status is S.PENDING and is_final_check(ctx.policy, t, now):
        after, expired, next_at = await expire_locally(ctx, store, due, now), True, None
    else:
        await _nudge(ctx, store, due, t, now)
        next_at = next_check_at(ctx.policy, t, now, ctx.random)
    if after is not S(due.status):
        ctx.counts["changes"] += 1
    checked = Checked(due.id, due.reference, due.method, S(due.status), after, True, None, expired)
    return checked, CheckRecord(due.id, now, next_at, answer.lease, asked=True)


async def _after_no_answer(
    ctx: ReconcileContext, store: ReconcileStore, answer: Answer, now: datetime
) -> tuple[Checked, CheckRecord]:
    """Ask again once the gateway may be asked; a payment is never expired unasked, unless its
    gateway is not configured any more (then there is nobody to ask)."""
    due, t = answer.due, timeline(answer.due)
    ctx.counts["unanswered" if answer.error else "deferred"] += 1
    before = after = S(due.status)
    next_at: datetime | None
    if answer.resume is not None:
        pause = timedelta(seconds=max(1.0, answer.resume - now.timestamp()))
        next_at = now + pause * (1 + ctx.random.uniform(0, ctx.policy.jitter))
    elif due.gateway not in ctx.gateways and is_final_check(ctx.policy, t, now):
        after, next_at = await expire_locally(ctx, store, due, now), None
    else:
        next_at = next_check_at(ctx.policy, t, now, ctx.random)
    error = str(answer.error) if answer.error else None
    checked = Checked(due.id, due.reference, due.method, before, after, False, error)
    return checked, CheckRecord(due.id, now, next_at, answer.lease, asked=False)


async def expire_locally(
    ctx: ReconcileContext, store: ReconcileStore, due: DuePayment, now: datetime
) -> S:
    """The final check found no payment: expire it, and its order first when that is due too.

    Expiring the order first means the customer hears "order expired" rather than "payment
    expired, pay again" for an order that can no longer be paid.
    """
    order = await store.orders.lock(due.order_id)
    if order.status == OrderStatus.PENDING_PAYMENT and order.expires_at <= now:
        await expire_order(store, order.id)
    expiry = PaymentResult(
        reference=due.reference,
        external_id=due.external_id,
        status=S.EXPIRED,
        reason="not paid by its expiry (final status check)",
    )
    applied = await apply_result(store, ctx.shop, due.id, expiry, source="expiry", now=now)
    ctx.counts["expired"] += 1
    log.info("payment=%s expired after its final status check", due.reference)
    return applied.status or S.EXPIRED


async def cancel_at_gateway(ctx: ReconcileContext, due: DuePayment) -> None:
    """Best effort, after the local expiry: if the money came in meanwhile, apply says so."""
    gateway = ctx.gateways.get(due.gateway)
    if gateway is None:
        return
    try:
        result = await gateway.cancel_payment(payment_ref(due))
    except PaymentError as exc:
        log.warning("payment=%s cancel at the gateway failed: %s", due.reference, exc)
        return
    if result is not None and result.status is S.PAID:
        async with ctx.uow() as store:
            await apply_result(store, ctx.shop, due.id, result, source="cancel", now=ctx.clock())


async def _nudge(
    ctx: ReconcileContext, store: ReconcileStore, due: DuePayment, t: Timeline, now: datetime
) -> None:
    nudge = nudge_due(ctx.policy, t, due.checked_at, now)
    if nudge is None:
        return
    order = await store.orders.lock(due.order_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        return
    customer = await store.orders.customer(order.customer_id)
    to = customer_recipient(customer)
    if to is None:
        return
    payload: dict[str, Any] = {
        "order_code": order.code,
        "payment_id": due.id,
        "reference": due.reference,
        "method": due.method,
        "expires_at": due.expires_at.isoformat() if due.expires_at else None,
        "language": customer.language,
    }
    tag = "reminder" if nudge is Nudge.REMINDER else "no_prompt"
    if await store.outbox.enqueue(to, str(nudge), payload, f"payment:{due.id}:{tag}:customer"):
        ctx.counts[str(nudge)] += 1
