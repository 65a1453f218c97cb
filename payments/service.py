"""Applying gateways' answers: one at a time (poller, check status) or in batches (callbacks).

Callbacks, the poller and "check status" race each other and repeat themselves; they all go
through payments.rules.decide (one transition table, ALLOWED_FROM) and write the decision, its
event and its outbox rows in the caller's transaction: one at a time or in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments.base import (
    PaymentResult,
    PaymentStatus,
)
from payments.orders import Shop, retake_stock
from payments.ports import Snapshot, Store
from payments.rules import Decision, Message, Outcome, decide

log = logging.getLogger(__name__)
S = PaymentStatus
UnitOfWork = Callable[[], AbstractAsyncContextManager[Store]]


# Only an event that changed something claims its dedupe key: the same bytes arriving again
# are then a replay. A stale or unmatched event does not, because a later retry of it may be
# the one that applies (it first came out of order).
KEPT = frozenset({Outcome.APPLIED, Outcome.REVIEW})


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
    item = BatchItem(before.gateway, result, body, dedupe_key, source)
    await store.payments.add_events([_event(before, item, decision.outcome, now)])
    _log(before, result, decision, source)
    return Applied(decision.outcome, before.payment_id, decision.after.status)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One gateway answer, for the payment it names by our reference or theirs, or, for a
    status query's answer, for the payment it was asked about (`asked_about`, our reference):
    then rules.decide checks that the answer names that payment before it may move it."""

    gateway: str
    result: PaymentResult
    body: str | None = None
    dedupe_key: str | None = None
    source: str = "callback"
    asked_about: str | None = None
    verified: bool = True  # False: a callback without a signature, whatever confirmed it


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
        snap = _match(found, current, item)
        if snap is None:
            events.append(_unmatched(item, now))
            applied.append(Applied(Outcome.UNMATCHED, None, None))
            continue
        decision = await _settled(store, decide(snap, item.result, shop, now))
        if item.dedupe_key and decision.outcome in KEPT:
            seen.add(item.dedupe_key)
        current[snap.payment_id] = decision.after
        messages.extend(decision.messages)
        events.append(_event(snap, item, decision.outcome, now))
        applied.append(Applied(decision.outcome, snap.payment_id, decision.after.status))
        _log(snap, item.result, decision, item.source)
    await _write(store, before, current, messages, now)
    await store.payments.add_events(events)
    return applied


async def _snapshots(store: Store, items: Sequence[BatchItem]) -> dict[tuple[str, str], Snapshot]:
    """Every payment the batch names, locked, keyed by (gateway, reference or external id)."""
    found: dict[tuple[str, str], Snapshot] = {}
    for gateway in sorted({item.gateway for item in items}):
        mine = [item for item in items if item.gateway == gateway]
        references = {named for i in mine if (named := _named(i))}
        external_ids = {
            i.result.external_id for i in mine if i.result.external_id and not _named(i)
        }
        for snap in await store.payments.snapshots(gateway, references, external_ids):
            found[(gateway, snap.reference)] = snap
            found[(gateway, f"ext:{snap.external_id}")] = snap
    return found


def _named(item: BatchItem) -> str | None:
    """Our reference for the payment an item is about, where it has one."""
    return item.asked_about or item.result.reference


def _match(
    found: Mapping[tuple[str, str], Snapshot], current: Mapping[int, Snapshot], item: BatchItem
) -> Snapshot | None:
    named = _named(item)
    snap = found.get((item.gateway, named)) if named else None
    if snap is None and not item.asked_about:
        snap = found.get((item.gateway, f"ext:{item.result.external_id}"))
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


def _event(snap: Snapshot, item: BatchItem, outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "payment_id": snap.payment_id,
        "gateway": snap.gateway,
        "source": item.source,
        "reference": snap.reference,
        "raw_status": item.result.raw_status,
        "status": str(item.result.status),
        "outcome": str(outcome),
        "verified": item.verified,
        "body": item.body,
        "dedupe_key": item.dedupe_key if outcome in KEPT else None,
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
        "verified": item.verified,
        "body": item.body,
        "dedupe_key": None,  # the payment may still appear: a later retry is looked at again
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
