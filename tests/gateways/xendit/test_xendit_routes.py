"""Xendit at our callback route, the cases the shared suite (tests/gateways/test_routes.py)
leaves to each gateway: a payment we do not know, our own failure, events out of order, money
after expiry, and each of Xendit's three callback shapes."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from storage.db import transaction
from storage.models import Outbox, Payment, PaymentEvent
from tests.gateways.harness import Harness
from tests.gateways.xendit.harness import start


@pytest.fixture
async def xendit(aiohttp_server: Any, db_url: str) -> Harness:
    return await start(aiohttp_server, db_url)


async def paid_messages(h: Harness) -> int:
    return len(await h.rows(select(Outbox.kind).where(Outbox.kind == "payment_paid")))


async def test_a_tokened_callback_for_a_payment_we_do_not_know_is_200_and_kept(
    xendit: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await xendit.start()
    body = xendit.fake.callback(payment.reference)
    body["data"]["reference_id"] = "ZZZZZZ01"
    body["data"]["payment_request_id"] = "pr-not-ours"
    assert await xendit.fake.post(http, xendit.callback_url, body) == 200
    [(status,)] = await xendit.rows(select(Payment.status))
    assert status == "pending"
    assert ("unmatched",) in await xendit.rows(select(PaymentEvent.outcome))


async def test_when_the_confirming_query_fails_the_answer_is_503_so_xendit_sends_again(
    xendit: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await xendit.start()
    xendit.pay(payment.reference)
    xendit.fake.fail_next("500")
    assert await xendit.send(http, xendit.callback_url, payment.reference) == 503
    [(status,)] = await xendit.rows(select(Payment.status))
    assert status == "pending"
    assert await xendit.send(http, xendit.callback_url, payment.reference) == 200
    [(status,)] = await xendit.rows(select(Payment.status))
    assert status == "paid" and await paid_messages(xendit) == 1


async def test_an_old_callback_after_paid_changes_nothing(
    xendit: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await xendit.start()
    xendit.pay(payment.reference)
    assert await xendit.send(http, xendit.callback_url, payment.reference) == 200
    for status in ("PENDING", "EXPIRED", "FAILED"):
        sent = await xendit.send(http, xendit.callback_url, payment.reference, status=status)
        assert sent == 200
    [(final,)] = await xendit.rows(select(Payment.status))
    assert final == "paid" and await paid_messages(xendit) == 1


async def test_money_after_our_expiry_is_paid_and_flagged_for_review(
    xendit: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await xendit.start()
    sessions = xendit.running.runtime.sessions
    assert sessions is not None
    async with transaction(sessions) as session:
        await session.execute(
            update(Payment).where(Payment.id == payment.id).values(status="expired")
        )
    xendit.pay(payment.reference)
    assert await xendit.send(http, xendit.callback_url, payment.reference) == 200
    [(status, review)] = await xendit.rows(select(Payment.status, Payment.needs_review))
    assert status == "paid" and review


@pytest.mark.parametrize("method", ["xendit:link", "xendit:qris"])
async def test_invoice_and_qris_callbacks_pay_once(
    xendit: Harness, http: aiohttp.ClientSession, method: str
) -> None:
    payment = await xendit.start(method=method)
    xendit.pay(payment.reference)
    for _ in range(2):
        assert await xendit.send(http, xendit.callback_url, payment.reference) == 200
    [(status,)] = await xendit.rows(select(Payment.status))
    assert status == "paid" and await paid_messages(xendit) == 1


async def test_a_fixed_va_paid_callback_is_confirmed_by_the_payment_request(
    xendit: Harness, http: aiohttp.ClientSession
) -> None:
    """The legacy shape names our reference in external_id and no status; the route asks."""
    payment = await xendit.start()
    body = {
        "id": "65a4f9a0c5710a7ae00f75db",
        "payment_id": "pay_made_up_0002",
        "callback_virtual_account_id": "65a4f1a9d0435601d9d43e5e",
        "external_id": payment.reference,
        "bank_code": "BCA",
        "amount": payment.amount,
        "currency": "IDR",
    }
    assert await xendit.fake.post(http, xendit.callback_url, body) == 200  # not paid yet
    [(status,)] = await xendit.rows(select(Payment.status))
    assert status == "pending"
    xendit.pay(payment.reference)
    assert await xendit.fake.post(http, xendit.callback_url, body | {"id": "2"}) == 200
    [(status,)] = await xendit.rows(select(Payment.status))
    assert status == "paid" and await paid_messages(xendit) == 1
