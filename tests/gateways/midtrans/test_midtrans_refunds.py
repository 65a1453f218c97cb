"""Refunds at Midtrans through its fake: a part, then the rest; a bank transfer (which
Midtrans cannot refund by API) fails with its reason; an answer that never came is asked again
with the same refund_key, so the money goes back once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from payments.refunds import ask_again
from storage.models import Payment, Refund
from tests.gateways.midtrans.harness import start
from tests.gateways.refundkit import paid, refund, told


async def test_a_qris_payment_refunded_in_part_then_whole(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await start(aiohttp_server, db_url)
    code, payment = await paid(h, "midtrans:qris")
    part = await refund(h, code, 20000)
    assert (part.status, part.reference) == ("done", f"{payment.reference}R1")
    assert h.fake.orders[payment.reference]["transaction_status"] == "partial_refund"
    assert await h.rows(select(Payment.status)) == [("paid",)]
    rest = await refund(h, code, None)
    assert (rest.status, rest.amount) == ("done", 30000)
    assert await h.rows(select(Payment.status)) == [("refunded",)]
    assert sorted(h.fake.refunds) == [f"{payment.reference}R1", f"{payment.reference}R2"]
    status = await h.send(h.running.runtime.http, h.callback_url, payment.reference)
    assert status == 200  # Midtrans' own "refund" notification changes nothing more
    assert await h.rows(select(Payment.status)) == [("refunded",)]
    assert [p["amount"] for p in await told(h)] == [20000, 30000]


async def test_a_bank_transfer_refund_fails_with_the_reason(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await start(aiohttp_server, db_url)
    code, _ = await paid(h, "midtrans:va:bca")
    failed = await refund(h, code, None)
    assert failed.status == "failed" and "412" in (failed.reason or "")
    assert await h.rows(select(Payment.status)) == [("paid",)]
    assert await told(h) == [] and h.fake.refunds == {}


async def test_an_answer_that_never_came_is_asked_again_and_refunds_once(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await start(aiohttp_server, db_url)
    code, _ = await paid(h, "midtrans:qris")
    h.fake.fail_next("timeout")  # Midtrans refunds, but its answer comes too late for us
    asked = await refund(h, code, 20000)
    assert asked.status == "requested" and await told(h) == []
    runtime = h.running.runtime
    assert await ask_again(runtime.uow, runtime.gateways, now=runtime.clock()) == 0  # too soon
    later = runtime.clock() + timedelta(minutes=2)
    assert await ask_again(runtime.uow, runtime.gateways, now=later) == 1
    assert await h.rows(select(Refund.status)) == [("done",)]
    assert len(h.fake.refunds) == 1  # the same refund_key: given back once
    assert len(await told(h)) == 1
    assert await ask_again(runtime.uow, runtime.gateways, now=later + timedelta(minutes=2)) == 0
