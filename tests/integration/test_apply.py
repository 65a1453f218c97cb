"""apply_result on a real database: idempotent, sticky final states, reviews, outbox rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from payments.attempts import begin_attempt
from payments.base import MethodId, PaymentResult, PaymentStatus
from payments.orders import OrderError, Shop, cancel_order, expire_order
from payments.service import Outcome, apply_result
from storage.db import Sessions, transaction
from storage.models import Order, Outbox, Payment, PaymentEvent, Product
from tests.conftest import NOW, UnitOfWork, new_order

S = PaymentStatus
VA = MethodId.parse("sandbox:va:bca")
QRIS = MethodId.parse("sandbox:qris")


async def open_payment(
    uow: UnitOfWork, shop: Shop, customer_id: int, method: MethodId = VA
) -> tuple[str, int]:
    code = await new_order(uow, shop, customer_id, now=NOW)
    async with uow() as store:
        attempt = await begin_attempt(store, code, method, expiry=timedelta(hours=24), now=NOW)
    return code, attempt.payment_id


async def reference_of(store: Any, payment_id: int) -> str:
    """Ours, as a gateway's answer names it: an answer naming nothing moves no payment."""
    row = await store.payments.get(payment_id)
    assert row is not None
    return str(row.reference)


async def apply(
    uow: UnitOfWork,
    shop: Shop,
    payment_id: int,
    status: S,
    amount: int | None = 50000,
    **kw: Any,
) -> Outcome:
    async with uow() as store:
        reference = await reference_of(store, payment_id)
        result = PaymentResult(reference, "ext-1", status, amount=amount, raw_status=str(status))
        applied = await apply_result(
            store, shop, payment_id, result, source="callback", now=NOW, **kw
        )
    return applied.outcome


async def rows(sessions: Sessions, model: type, *columns: Any) -> list[Any]:
    async with transaction(sessions) as session:
        query = select(*columns) if columns else select(model)
        return list((await session.execute(query.order_by(model.id))).all())


async def payment(sessions: Sessions, payment_id: int) -> Payment:
    async with transaction(sessions) as session:
        found = await session.get(Payment, payment_id)
        assert found is not None
        return found


async def order_status(sessions: Sessions, code: str) -> str:
    async with transaction(sessions) as session:
        return str(await session.scalar(select(Order.status).where(Order.code == code)))


async def test_a_payment_attempt_reference_derives_from_the_order_code(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    first = await payment(sessions, payment_id)
    assert first.reference == f"{code}01"
    assert (first.amount, first.currency, first.status) == (50000, "IDR", "pending")
    async with uow() as store:
        second = await begin_attempt(store, code, QRIS, expiry=timedelta(hours=1), now=NOW)
    assert second.reference == f"{code}02"
    [old] = second.superseded
    assert (old.reference, old.external_id, old.method) == (f"{code}01", None, "sandbox:va:bca")
    assert (await payment(sessions, payment_id)).status == "cancelled"


async def test_tapping_pay_twice_with_one_method_gives_one_attempt(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    async with uow() as store:
        again = await begin_attempt(store, code, VA, expiry=timedelta(hours=24), now=NOW)
    assert again.reused and again.payment_id == payment_id
    assert len(await rows(sessions, Payment, Payment.id)) == 1


async def test_paid_marks_the_order_paid_and_writes_one_message_per_recipient(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    assert await apply(uow, shop, payment_id, S.PAID) is Outcome.APPLIED
    paid = await payment(sessions, payment_id)
    assert (paid.status, paid.paid_at, paid.next_check_at) == ("paid", NOW, None)
    assert await order_status(sessions, code) == "paid"
    outbox = await rows(
        sessions, Outbox, Outbox.kind, Outbox.channel, Outbox.address, Outbox.dedupe_key
    )
    assert sorted(outbox) == sorted(
        [
            ("payment_paid", "telegram", "1001", f"payment:{payment_id}:paid:customer"),
            (
                "order_paid",
                "telegram",
                "9001",
                f"payment:{payment_id}:paid:merchant:telegram:9001",
            ),
        ]
    )


async def test_a_duplicate_callback_changes_nothing_and_says_so(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    _, payment_id = await open_payment(uow, shop, customer_id)
    assert await apply(uow, shop, payment_id, S.PAID, dedupe_key="cb:1") is Outcome.APPLIED
    assert await apply(uow, shop, payment_id, S.PAID, dedupe_key="cb:1") is Outcome.DUPLICATE
    assert await apply(uow, shop, payment_id, S.PAID, dedupe_key="cb:2") is Outcome.DUPLICATE
    assert len(await rows(sessions, Outbox, Outbox.id)) == 2
    events = await rows(sessions, PaymentEvent, PaymentEvent.outcome, PaymentEvent.dedupe_key)
    assert events == [("applied", "cb:1"), ("duplicate", None)]


async def test_an_out_of_order_callback_retried_later_is_applied_then(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    """A refund that first arrived before the payment is not a replay when it comes again."""
    _, payment_id = await open_payment(uow, shop, customer_id)
    assert await apply(uow, shop, payment_id, S.REFUNDED, dedupe_key="cb:r") is Outcome.STALE
    assert await apply(uow, shop, payment_id, S.PAID, dedupe_key="cb:p") is Outcome.APPLIED
    assert await apply(uow, shop, payment_id, S.REFUNDED, dedupe_key="cb:r") is Outcome.APPLIED
    assert (await payment(sessions, payment_id)).status == "refunded"


@pytest.mark.parametrize("late", [S.PENDING, S.PROCESSING, S.EXPIRED, S.FAILED, S.CANCELLED])
async def test_a_final_state_never_moves_back(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions, late: S
) -> None:
    _, payment_id = await open_payment(uow, shop, customer_id)
    await apply(uow, shop, payment_id, S.PAID)
    outcome = await apply(uow, shop, payment_id, late)
    assert (await payment(sessions, payment_id)).status == "paid"
    assert outcome in (Outcome.STALE, Outcome.REVIEW)


@pytest.mark.parametrize("before", [S.EXPIRED, S.FAILED])
async def test_a_verified_paid_after_expired_or_failed_is_accepted_and_flagged(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions, before: S
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    await apply(uow, shop, payment_id, before)
    assert await apply(uow, shop, payment_id, S.PAID) is Outcome.APPLIED
    paid = await payment(sessions, payment_id)
    assert paid.status == "paid" and paid.needs_review
    assert paid.review_reason == f"paid after the payment was {before}"
    assert await order_status(sessions, code) == "paid"
    kinds = [k for (k,) in await rows(sessions, Outbox, Outbox.kind)]
    assert kinds.count("payment_paid") == 1 and "payment_review" in kinds


@pytest.mark.parametrize(("amount", "currency"), [(49999, None), (50001, None), (50000, "USD")])
async def test_an_amount_or_currency_mismatch_is_never_paid_and_goes_to_review(
    uow: UnitOfWork,
    shop: Shop,
    customer_id: int,
    sessions: Sessions,
    amount: int,
    currency: str | None,
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    async with uow() as store:
        reference = await reference_of(store, payment_id)
        result = PaymentResult(reference, "x", S.PAID, amount=amount, currency=currency)
        applied = await apply_result(store, shop, payment_id, result, source="callback", now=NOW)
    assert applied.outcome is Outcome.REVIEW
    flagged = await payment(sessions, payment_id)
    assert flagged.status == "processing" and flagged.needs_review
    assert "mismatch" in (flagged.review_reason or "")
    assert await order_status(sessions, code) == "pending_payment"
    kinds = [k for (k,) in await rows(sessions, Outbox, Outbox.kind)]
    assert kinds == ["payment_review"]


async def test_a_second_paid_attempt_is_flagged_for_refund(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code, first = await open_payment(uow, shop, customer_id)
    async with uow() as store:
        second = await begin_attempt(store, code, QRIS, expiry=timedelta(hours=1), now=NOW)
    await apply(uow, shop, second.payment_id, S.PAID)
    assert await apply(uow, shop, first, S.PAID) is Outcome.APPLIED  # paid though cancelled
    old = await payment(sessions, first)
    assert old.status == "paid" and old.needs_review
    assert "refund" in (old.review_reason or "") or "cancelled" in (old.review_reason or "")
    assert await order_status(sessions, code) == "paid"


async def test_paid_after_the_order_expired_reopens_it_when_stock_allows(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    async with uow() as store:
        order = await store.orders.lock_by_code(code)
        assert order is not None
        await expire_order(store, order.id)
    assert await apply(uow, shop, payment_id, S.PAID) is Outcome.APPLIED
    assert await order_status(sessions, code) == "paid"
    async with transaction(sessions) as session:
        stock = await session.scalar(select(Product.stock).where(Product.sku == "KOPI-SUSU"))
    assert stock == 98
    assert (await payment(sessions, payment_id)).needs_review


async def test_a_cancelled_order_cannot_start_a_payment(
    uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    code = await new_order(uow, shop, customer_id, now=NOW)
    async with uow() as store:
        await cancel_order(store, code, now=NOW)
    with pytest.raises(OrderError) as caught:
        async with uow() as store:
            await begin_attempt(store, code, VA, expiry=timedelta(hours=1), now=NOW)
    assert caught.value.code == "not_payable"


async def test_cancelling_an_order_cancels_its_open_attempt_and_hands_it_back(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    """The caller cancels the handed-back attempts at their gateways; the poller stops."""
    code, payment_id = await open_payment(uow, shop, customer_id)
    async with uow() as store:
        cancelled = await cancel_order(store, code, now=NOW)
    assert [p.id for p in cancelled.attempts] == [payment_id]
    row = await payment(sessions, payment_id)
    assert row.status == "cancelled" and row.next_check_at is None
    assert await apply(uow, shop, payment_id, S.PAID) is Outcome.APPLIED  # money came anyway
    assert (await payment(sessions, payment_id)).needs_review


async def test_failed_and_expired_offer_the_customer_another_try(
    uow: UnitOfWork, shop: Shop, customer_id: int, sessions: Sessions
) -> None:
    code, payment_id = await open_payment(uow, shop, customer_id)
    assert await apply(uow, shop, payment_id, S.EXPIRED) is Outcome.APPLIED
    assert await order_status(sessions, code) == "pending_payment"
    assert [k for (k,) in await rows(sessions, Outbox, Outbox.kind)] == ["payment_expired"]
    async with uow() as store:
        again = await begin_attempt(store, code, VA, expiry=timedelta(hours=1), now=NOW)
    assert not again.reused and again.reference == f"{code}02"
