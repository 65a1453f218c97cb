"""ClickPesa at our callback route, the cases the shared suite (tests/gateways/test_routes.py)
leaves to each gateway: a payment we do not know, our own failure while confirming, replays
and events out of order, a webhook whose word the status query contradicts, the checksum in
a header, and an account without a checksum key, whose webhooks are only claims."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from payments.gateways.clickpesa import wire
from storage.models import Outbox, Payment, PaymentEvent
from tests.conftest import status_queries
from tests.gateways.clickpesa.harness import CHECKSUM_KEY, start
from tests.gateways.harness import Harness


@pytest.fixture
async def clickpesa(aiohttp_server: Any, db_url: str) -> Harness:
    return await start(aiohttp_server, db_url)


async def paid_messages(h: Harness) -> int:
    return len(await h.rows(select(Outbox.kind).where(Outbox.kind == "payment_paid")))


async def test_a_signed_webhook_for_a_payment_we_do_not_know_is_200_and_kept(
    clickpesa: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await clickpesa.start()
    body, headers = clickpesa.fake.callback(payment.reference)
    body["data"] |= {"orderReference": "ZZZZZZ01", "id": "ZZZZZZ01LCP0000"}
    body["checksum"] = wire.checksum(body, CHECKSUM_KEY)
    assert await clickpesa.fake.post(http, clickpesa.callback_url, body, headers) == 200
    [(status,)] = await clickpesa.rows(select(Payment.status))
    assert status == "processing"
    assert ("unmatched",) in await clickpesa.rows(select(PaymentEvent.outcome))


async def test_when_the_confirming_query_fails_the_answer_is_503_so_clickpesa_sends_again(
    clickpesa: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await clickpesa.start()
    clickpesa.pay(payment.reference)
    clickpesa.fake.fail_next("500", on="status")
    assert await clickpesa.send(http, clickpesa.callback_url, payment.reference) == 503
    [(status,)] = await clickpesa.rows(select(Payment.status))
    assert status == "processing"
    assert await clickpesa.send(http, clickpesa.callback_url, payment.reference) == 200
    [(status,)] = await clickpesa.rows(select(Payment.status))
    assert status == "paid" and await paid_messages(clickpesa) == 1


async def test_a_replayed_or_old_webhook_after_paid_changes_nothing(
    clickpesa: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await clickpesa.start()
    clickpesa.pay(payment.reference)
    body, headers = clickpesa.fake.callback(payment.reference)
    for _ in range(3):  # the very same bytes again: a replay
        assert await clickpesa.fake.post(http, clickpesa.callback_url, body, headers) == 200
    for status in ("PROCESSING", "FAILED"):
        sent = await clickpesa.send(http, clickpesa.callback_url, payment.reference, status=status)
        assert sent == 200
    [(final,)] = await clickpesa.rows(select(Payment.status))
    assert final == "paid" and await paid_messages(clickpesa) == 1


async def test_a_received_webhook_for_a_push_clickpesa_reports_failed_fails_it(
    clickpesa: Harness, http: aiohttp.ClientSession
) -> None:
    """Always re-query before acting: the status endpoint's word is the one applied."""
    payment = await clickpesa.start()
    clickpesa.fake.fail(payment.reference, "Insufficient balance")
    body, headers = clickpesa.fake.callback(payment.reference, status="SUCCESS")
    assert await clickpesa.fake.post(http, clickpesa.callback_url, body, headers) == 200
    [(status,)] = await clickpesa.rows(select(Payment.status))
    assert status == "failed" and await paid_messages(clickpesa) == 0
    counted = await status_queries(clickpesa.running)
    assert counted == {("clickpesa", "callback", "answered"): 1}


async def test_the_checksum_in_a_header_is_verified_too(
    clickpesa: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await clickpesa.start()
    clickpesa.pay(payment.reference)
    url = clickpesa.callback_url
    forged = await clickpesa.send(http, url, payment.reference, where="header", forged=True)
    assert forged == 401
    assert await clickpesa.send(http, url, payment.reference, where="header") == 200
    [(status,)] = await clickpesa.rows(select(Payment.status))
    assert status == "paid" and await paid_messages(clickpesa) == 1


@pytest.fixture
async def unsigned(aiohttp_server: Any, db_url: str) -> Harness:
    """An account with the checksum off: webhooks carry nothing to verify."""
    return await start(aiohttp_server, db_url, checksum_key="")


async def test_without_a_checksum_key_a_webhook_is_confirmed_by_the_status_query(
    unsigned: Harness, http: aiohttp.ClientSession
) -> None:
    h, fake = unsigned, unsigned.fake
    payment = await h.start()
    url = h.callback_url
    assert await fake.send(http, url, payment.reference) == 200  # a claim; ClickPesa: processing
    [(status,)] = await h.rows(select(Payment.status))
    assert status == "processing"
    fake.pay(payment.reference)
    assert await fake.send(http, url, payment.reference) == 200
    [(status,)] = await h.rows(select(Payment.status))
    assert status == "paid" and await paid_messages(h) == 1
    verified = {v for (v,) in await h.rows(select(PaymentEvent.verified).where(
        PaymentEvent.source == "callback"))}  # fmt: skip
    assert verified == {False}


async def test_without_a_checksum_key_a_webhook_for_no_payment_writes_nothing(
    unsigned: Harness, http: aiohttp.ClientSession
) -> None:
    h, fake = unsigned, unsigned.fake
    data = {"orderReference": "ZZZZZZ01", "status": "SUCCESS", "collectedAmount": "1"}
    body = {"event": "PAYMENT RECEIVED", "data": data}
    headers = {"Content-Type": "application/json"}
    assert await fake.post(http, h.callback_url, body, headers) == 200
    assert await h.rows(select(PaymentEvent.id)) == []
    assert [c for c in fake.calls if c[0] == "GET"] == []  # nothing asked for a stranger
