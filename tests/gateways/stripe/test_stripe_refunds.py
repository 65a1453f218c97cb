"""Refunds at Stripe through its fake, by the real SDK over real HTTP: a part, then the rest;
an answer that never came (or a 5xx) is asked again by the sweep with the same idempotency
key, so the money goes back once; more than is left is refused before Stripe is asked, and
Stripe refuses it too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from payments.base import GatewayRejected, MethodId, PaymentRef, RefundAsk
from payments.gateways.stripe.amounts import to_stripe
from payments.orders import OrderError
from payments.refunds import ask_again
from storage.models import Payment, Refund
from tests.gateways.refundkit import paid, refund, told
from tests.gateways.stripe.harness import start


async def test_a_payment_refunded_in_part_then_whole(aiohttp_server: Any, db_url: str) -> None:
    h = await start(aiohttp_server, db_url)
    code, payment = await paid(h)
    part_amount = payment.amount // 4
    part = await refund(h, code, part_amount)
    assert (part.status, part.reference) == ("done", f"{payment.reference}R1")
    assert part.external_id in h.fake.refunds
    intent = h.fake.intent_for(payment.reference)
    assert intent["amount_refunded"] == to_stripe(part_amount, payment.currency)
    assert await h.rows(select(Payment.status)) == [("paid",)]
    rest = await refund(h, code, None)
    assert (rest.status, rest.amount) == ("done", payment.amount - part_amount)
    assert await h.rows(select(Payment.status)) == [("refunded",)]
    assert intent["amount_refunded"] == intent["amount"]
    assert len(h.fake.refunds) == 2
    assert [p["amount"] for p in await told(h)] == [part_amount, payment.amount - part_amount]


@pytest.mark.parametrize("failure", ["timeout", "500"])
async def test_an_unknown_outcome_is_asked_again_and_refunds_once(
    aiohttp_server: Any, db_url: str, failure: str
) -> None:
    h = await start(aiohttp_server, db_url)
    code, payment = await paid(h)
    h.fake.fail_next(failure)  # a timeout: Stripe refunds, but its answer comes too late
    asked = await refund(h, code, payment.amount // 2)
    assert asked.status == "requested" and await told(h) == []
    runtime = h.running.runtime
    assert await ask_again(runtime.uow, runtime.gateways, now=runtime.clock()) == 0  # too soon
    later = runtime.clock() + timedelta(minutes=2)
    assert await ask_again(runtime.uow, runtime.gateways, now=later) == 1
    assert await h.rows(select(Refund.status)) == [("done",)]
    assert len(h.fake.refunds) == 1  # the same idempotency key: given back once
    assert h.fake.intent_for(payment.reference)["amount_refunded"] == to_stripe(
        payment.amount // 2, payment.currency
    )
    assert len(await told(h)) == 1
    assert await ask_again(runtime.uow, runtime.gateways, now=later + timedelta(minutes=2)) == 0


async def test_more_than_is_left_is_refused(aiohttp_server: Any, db_url: str) -> None:
    h = await start(aiohttp_server, db_url)
    code, payment = await paid(h)
    with pytest.raises(OrderError, match="At most"):
        await refund(h, code, payment.amount + 1)
    assert h.fake.refunds == {} and await told(h) == []
    # Stripe holds the line too, whatever we ask: a card error is a refusal, not an outage.
    gateway: Any = h.running.runtime.gateways["stripe"]
    [(external_id,)] = await h.rows(select(Payment.external_id))
    ref = PaymentRef(payment.reference, external_id, MethodId.parse("stripe:link"))
    ask = RefundAsk(f"{payment.reference}R9", payment.amount + 1, payment.currency, "")
    with pytest.raises(GatewayRejected):
        await gateway.refund_payment(ref, ask)
    assert h.fake.refunds == {}


async def test_a_refund_stripe_fails_is_failed_with_its_reason(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await start(aiohttp_server, db_url)
    code, _ = await paid(h)
    h.fake.refund_status = "failed"
    failed = await refund(h, code, None)
    assert failed.status == "failed" and "declined" in (failed.reason or "")
    assert await h.rows(select(Payment.status)) == [("paid",)]
    assert await told(h) == []


async def test_a_pending_refund_stays_requested_until_stripe_says_succeeded(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await start(aiohttp_server, db_url)
    code, _ = await paid(h)
    h.fake.refund_status = "pending"
    asked = await refund(h, code, None)
    assert asked.status == "requested" and await told(h) == []
    [made] = h.fake.refunds.values()
    made["status"] = "succeeded"  # the key replays "pending"; its id tells the truth
    runtime = h.running.runtime
    later = runtime.clock() + timedelta(minutes=2)
    assert await ask_again(runtime.uow, runtime.gateways, now=later) == 1
    assert await h.rows(select(Refund.status)) == [("done",)]
    assert await h.rows(select(Payment.status)) == [("refunded",)]
    assert len(h.fake.refunds) == 1 and len(await told(h)) == 1
