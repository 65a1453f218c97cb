"""The callback log: what the gateways told us (callbacks and status answers), its replay, and
the payments whose last gateway answer and local status disagree ("stuck").

One home for `GET /api/events` and `POST /api/events/{id}/replay` (bot/api/routes.py),
`/callbacks` and `/stuck` in the merchant chat (bot/merchant/desk.py) and `checkout-bot orders
list --stuck` (bot/commands.py), so that they never disagree.

Every answer is already kept as a payment event with its outcome (payments/service.py and
payments/callbacks/refused.py), so the log is a query. A replay goes through the same apply
path as the callback did (payments/service.py apply_result), so it is idempotent; it never
applies an unverified body, and where the stored event cannot say enough (no payment then,
or a review, whose amount the event does not keep) it asks the gateway now instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from payments.base import PaymentResult, PaymentStatus
from payments.rules import Outcome
from payments.service import apply_result
from storage.models import Order, Payment, PaymentEvent

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
Json = dict[str, Any]
S = PaymentStatus
# What an event's outcome may read: payments/rules.py Outcome, and what the callback route
# writes for what it refuses (payments/callbacks/route.py).
OUTCOMES: Final = (
    *(str(o) for o in Outcome),
    "unreadable",
    "unconfirmed",
)
# What a replay may answer: the apply path's outcomes, and `deferred` when the gateway could
# not be asked just now (asked too recently, or its throttle said no): try again later.
REPLAY_OUTCOMES: Final = ("applied", "duplicate", "stale", "review", "unmatched", "deferred")
# A gateway's answer that a payment is settled there; "pending" and "processing" say nothing
# a local expiry or cancel would contradict.
SETTLED: Final = frozenset(str(s) for s in PaymentStatus if s.is_final)
STUCK_WINDOW: Final = timedelta(days=30)  # older answers are for the monthly books, not here


def event_json(event: PaymentEvent) -> Json:
    return {
        "id": event.id,
        "gateway": event.gateway,
        "source": event.source,
        "reference": event.reference,
        "payment_id": event.payment_id,
        "status": event.status,
        "raw_status": event.raw_status,
        "verified": event.verified,
        "outcome": event.outcome,
        "created_at": event.created_at.isoformat(),
    }


async def events_page(
    session: AsyncSession,
    *,
    gateway: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
    before: int | None = None,
) -> tuple[list[Json], int | None]:
    """Newest first; the second value is the last event id when another page follows."""
    query = select(PaymentEvent)
    if gateway is not None:
        query = query.where(PaymentEvent.gateway == gateway)
    if outcome is not None:
        query = query.where(PaymentEvent.outcome == outcome)
    if since is not None:
        query = query.where(PaymentEvent.created_at >= since)
    if before is not None:
        query = query.where(PaymentEvent.id < before)
    found = list(await session.scalars(query.order_by(PaymentEvent.id.desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    return [event_json(e) for e in found], found[-1].id if more and found else None


async def stuck_payments(session: AsyncSession, now: datetime, limit: int = 20) -> list[Json]:
    """Payments whose gateway last said (verified) that they are settled otherwise than here:
    paid at the gateway but not here (an amount to review, a callback that never applied), or
    paid here and failed or expired there. Newest first."""
    later = aliased(PaymentEvent)
    newer_answer = (
        select(later.id)
        .where(
            later.payment_id == PaymentEvent.payment_id,
            later.id > PaymentEvent.id,
            later.verified.is_(True),
            later.status.is_not(None),
        )
        .exists()
    )
    # From the settled answers that disagree (few: most say paid of a paid payment), those
    # that no later answer about the same payment followed; not a grouping of every event.
    query = (
        select(Payment, Order.code, PaymentEvent)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .join(Order, Order.id == Payment.order_id)
        .where(
            PaymentEvent.verified.is_(True),
            PaymentEvent.status.in_(sorted(SETTLED)),
            PaymentEvent.created_at >= now - STUCK_WINDOW,
            PaymentEvent.status != Payment.status,
            ~newer_answer,
        )
        .order_by(Payment.id.desc(), PaymentEvent.id.desc())
        .limit(limit)
    )
    return [_stuck_json(p, code, e) for p, code, e in (await session.execute(query)).tuples()]


def _stuck_json(payment: Payment, code: str, event: PaymentEvent) -> Json:
    return {
        "payment_id": payment.id,
        "order_code": code,
        "gateway": payment.gateway,
        "method": payment.method,
        "reference": payment.reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "gateway_status": event.status,
        "needs_review": payment.needs_review,
        "review_reason": payment.review_reason,
        "event": event_json(event),
    }


def stuck_table(stuck: list[Json]) -> list[str]:
    """For the command line: one line per payment."""
    rows = [("ORDER", "REFERENCE", "GATEWAY", "HERE", "AT GATEWAY", "EVENT")]
    for s in stuck:
        event = s["event"]
        when = event["created_at"][:16].replace("T", " ")
        rows.append(
            (
                s["order_code"],
                s["reference"],
                s["gateway"],
                s["status"],
                s["gateway_status"],
                f"{event['id']} {event['source']} {when}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


# ---- replay --------------------------------------------------------------------------------


class Unverified(Exception):
    """The event's body was never verified: replaying it could apply a forgery."""


@dataclass(frozen=True, slots=True)
class Replayed:
    event: Json  # the event replayed, as it was stored
    outcome: str  # one of REPLAY_OUTCOMES
    payment_id: int | None = None
    asked: bool = False  # whether the gateway was asked just now
    error: str | None = None  # why it was not, where it was meant to be

    def to_json(self) -> Json:
        return {
            "event": self.event,
            "outcome": self.outcome,
            "payment_id": self.payment_id,
            "asked": self.asked,
            "error": self.error,
        }


async def replay(runtime: Runtime, event_id: int) -> Replayed:
    """Run a stored verified event through the apply path again, or ask its gateway now.

    Idempotent: the apply path is (one transition table, outbox rows keyed once), and a replay
    that changed something claims `replay:{id}`, so the next one is a duplicate. Raises
    LookupError for an unknown event and Unverified for one that was never verified.
    """
    async with runtime.uow() as store:
        event = await store.session.get(PaymentEvent, event_id)
        if event is None:
            raise LookupError(f"no event {event_id}")
        shown = event_json(event)
        if not event.verified:
            raise Unverified(f"event {event_id} was not verified")
        payment = await _payment_of(store.session, event)
        if payment is None:
            return Replayed(shown, str(Outcome.UNMATCHED))
        result = _rerun(event, payment)
        if result is not None:
            applied = await apply_result(
                store,
                runtime.shop,
                payment.id,
                result,
                source="replay",
                now=runtime.clock(),
                dedupe_key=f"replay:{event.id}",
            )
            log.info("event=%s replayed: %s", event_id, applied.outcome)
            return Replayed(shown, str(applied.outcome), payment.id)
        payment_id = payment.id
    return await _ask_now(runtime, shown, payment_id)


async def _payment_of(session: AsyncSession, event: PaymentEvent) -> Payment | None:
    """The event's payment; for an unmatched one, the payment of its reference if it exists
    now (the callback may have come before the payment was stored) at the same gateway."""
    if event.payment_id is not None:
        return await session.get(Payment, event.payment_id)
    if not event.reference:
        return None
    payment = await session.scalar(select(Payment).where(Payment.reference == event.reference))
    return payment if payment is not None and payment.gateway == event.gateway else None


def _rerun(event: PaymentEvent, payment: Payment) -> PaymentResult | None:
    """The stored answer again, where the stored event says all that deciding needs; None to
    ask the gateway instead. Not for an unmatched event (it never named this payment as
    stored) nor a review (the amount it was about is not kept with the event)."""
    if event.payment_id is None or event.outcome == Outcome.REVIEW:
        return None
    if event.status not in set(PaymentStatus):
        return None
    return PaymentResult(
        reference=payment.reference,
        external_id=payment.external_id,
        status=PaymentStatus(event.status),
        raw_status=event.raw_status,
    )


async def _ask_now(runtime: Runtime, shown: Json, payment_id: int) -> Replayed:
    """Through "check status" (payments/reconcile/poller.py check_now): rate-limited per
    payment, and applied like a callback."""
    assert runtime.check_status is not None, "the scheduler's context has not started"
    check = await runtime.check_status(payment_id)
    if check.changed:
        outcome = str(Outcome.APPLIED)
    elif check.error is None and (check.asked or check.status.is_final):
        outcome = str(Outcome.DUPLICATE)
    else:
        outcome = "deferred"
    error = check.error
    if outcome == "deferred" and error is None:
        error = f"asked too recently; again in {check.retry_in or 0:.0f} s"
    log.info("event=%s replayed by asking the gateway: %s", shown["id"], outcome)
    return Replayed(shown, outcome, payment_id, check.asked, error)
