"""What one gateway answer does to one payment, decided without I/O.

`decide` is the single home of the lifecycle rules: the one-at-a-time path (poller, "check
status") and the batched callback path both execute its Decision, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from payments.base import (
    LATE_PAID_FROM,
    PaymentResult,
    PaymentStatus,
    can_move,
    names_another_payment,
)
from payments.orders import OrderStatus, Shop
from payments.ports import RECEIPT_ADDRESS, Channel, Message, Recipient, Snapshot

S = PaymentStatus
OS = OrderStatus


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the same status again, or the same event again
    STALE = "stale"  # an older or backward status: changes nothing
    REVIEW = "review"  # kept, flagged for a person (amount mismatch, reversal)
    UNMATCHED = "unmatched"  # verified, but for no payment of ours
    REJECTED = "rejected"  # not verified: stored, never applied


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    after: Snapshot  # the payment and its order as they are once this is applied
    messages: tuple[Message, ...] = ()
    reviews: tuple[str, ...] = ()  # reasons newly flagged for a person
    retake_stock: bool = False  # paid after the order closed: reserve its stock again first
    if_no_stock: Decision | None = None  # what to do instead when that reservation fails

    @property
    def moved(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.REVIEW)


def decide(snap: Snapshot, result: PaymentResult, shop: Shop, now: datetime) -> Decision:
    old, new = snap.status, result.status
    if stranger := names_another_payment(result, snap.reference, snap.external_id):
        return _flagged(Decision(Outcome.REVIEW, snap), shop, stranger, "another")
    if new is S.PAID and (mismatch := _mismatch(snap, result)):
        after = replace(snap, status=S.PROCESSING) if can_move(old, S.PROCESSING) else snap
        return _flagged(Decision(Outcome.REVIEW, after), shop, mismatch, "amount")
    if result.alert and not snap.needs_review and not (old.is_final or new.is_final):
        after = replace(snap, status=new) if can_move(old, new) else snap
        return _flagged(Decision(Outcome.REVIEW, after), shop, result.alert[:200], "alert")
    if new is old:
        return Decision(Outcome.DUPLICATE, snap)
    if not can_move(old, new):
        if old is S.PAID and new in (S.FAILED, S.CANCELLED, S.EXPIRED):
            reason = f"gateway reports {result.raw_status or new} after paid"
            return _flagged(Decision(Outcome.REVIEW, snap), shop, reason, "reversal")
        return Decision(Outcome.STALE, snap)
    if new is S.PAID:  # final, so no more checks; one copy of the snapshot, not two
        return _paid(replace(snap, status=new, next_check_at=None, paid_at=now), old, shop)
    after = replace(snap, status=new, next_check_at=None if new.is_final else snap.next_check_at)
    messages: tuple[Message, ...] = ()
    if new in (S.FAILED, S.EXPIRED) and snap.order_status == OS.PENDING_PAYMENT:
        messages = _to_customer(snap, str(new), result.reason)
    return Decision(Outcome.APPLIED, after, messages)


def _mismatch(snap: Snapshot, result: PaymentResult) -> str | None:
    if result.amount is not None and result.amount != snap.amount:
        return f"amount mismatch: gateway reports {result.amount}, order wants {snap.amount}"
    if result.currency is not None and result.currency.upper() != snap.currency:
        return f"currency mismatch: gateway reports {result.currency}, order is {snap.currency}"
    return None


def _paid(after: Snapshot, old: S, shop: Shop) -> Decision:
    told = _to_customer(after, "paid") + (_receipt(after) if shop.receipts else ())
    decision = Decision(Outcome.APPLIED, after, told)
    if old in LATE_PAID_FROM:
        decision = _flagged(decision, shop, f"paid after the payment was {old}", "late")
    order = after.order_status
    if order == OS.PENDING_PAYMENT:
        return _order_paid(decision, shop)
    if order in (OS.EXPIRED, OS.CANCELLED):
        reopened = _flagged(
            _order_paid(decision, shop), shop, f"paid after the order was {order}", "reopened"
        )
        reason = f"paid after the order was {order} and its stock is gone: refund or restock"
        no_stock = _flagged(decision, shop, reason, "no-stock")
        return replace(reopened, retake_stock=True, if_no_stock=no_stock)
    return _flagged(decision, shop, "order was already paid: refund this payment", "twice")


def _order_paid(decision: Decision, shop: Shop) -> Decision:
    after = replace(decision.after, order_status=OS.PAID, order_paid_at=decision.after.paid_at)
    told = tuple(
        Message(
            to,
            "order_paid",
            payload(after) | {"order_id": after.order_id},
            f"payment:{after.payment_id}:paid:merchant:{to.channel}:{to.address}",
        )
        for to in shop.merchants
    )
    return replace(decision, after=after, messages=decision.messages + told)


def _flagged(decision: Decision, shop: Shop, reason: str, tag: str) -> Decision:
    after = replace(decision.after, needs_review=True, review_reason=reason)
    body = {"reference": after.reference, "payment_id": after.payment_id, "reason": reason}
    alerts = tuple(
        Message(
            to,
            "payment_review",
            body,
            f"payment:{after.payment_id}:review:{tag}:{to.channel}:{to.address}",
        )
        for to in shop.merchants
    )
    return replace(
        decision,
        after=after,
        messages=decision.messages + alerts,
        reviews=(*decision.reviews, reason),
    )


def _to_customer(snap: Snapshot, what: str, reason: str | None = None) -> tuple[Message, ...]:
    """`reason`: the gateway's own words for a decline ("Insufficient balance"), passed on."""
    if snap.customer is None:
        return ()
    body = payload(snap) | {"language": snap.language}
    if reason:
        body["reason"] = reason[:200]
    key = f"payment:{snap.payment_id}:{what}:customer"
    return (Message(snap.customer, f"payment_{what}", body, key),)


def _receipt(snap: Snapshot) -> tuple[Message, ...]:
    """The emailed receipt. Its address is the order's customer's email, which a snapshot
    does not carry: storage fills it in as it writes the row, or writes none
    (storage/repo.py OutboxWriter.enqueue_many)."""
    paid_at = snap.paid_at.isoformat() if snap.paid_at else None
    body = payload(snap) | {
        "language": snap.language,
        "order_id": snap.order_id,
        "paid_at": paid_at,
    }
    to = Recipient(Channel.EMAIL, RECEIPT_ADDRESS)
    return (Message(to, "receipt", body, f"payment:{snap.payment_id}:receipt:email"),)


def payload(snap: Snapshot) -> dict[str, Any]:
    return {
        "order_code": snap.order_code,
        "payment_id": snap.payment_id,
        "reference": snap.reference,
        "amount": snap.amount,
        "currency": snap.currency,
        "method": snap.method,
    }
