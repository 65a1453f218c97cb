"""What a stranger can send to the callback route: nothing of it may hold the database,
pay a payment, pay one payment with another's money, or earn a 5xx (shared/DESIGN.md
section 7, "Hostile input")."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select

from payments.callbacks.refused import BODY_LIMIT, CALM_PER_SECOND, TARPIT
from storage.models import Payment, PaymentEvent
from tests.conftest import Running
from tests.gateways.ipaymu.harness import start as ipaymu
from tests.integration.test_callbacks import pay_order, query, signed

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def unsigned_ipaymu(reference: str, trx_id: object, status: object = 1, amount: int = 1) -> bytes:
    fields = {"reference_id": reference, "trx_id": trx_id, "status_code": status}
    return urlencode({**fields, "sub_total": amount}).encode()


async def post(http: aiohttp.ClientSession, url: str, body: bytes, headers: Any) -> int:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status


@pytest.mark.parametrize("null_reference", [False, True], ids=["names-other", "names-nothing"])
async def test_one_payment_never_pays_for_another_order(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, null_reference: bool
) -> None:
    h = await ipaymu(aiohttp_server, db_url)
    h.fake.null_reference = null_reference
    paid = await h.start("1001")  # Y: a VA, really paid
    h.fake.pay(paid.reference)
    assert await h.send(http, h.callback_url, paid.reference) == 200
    hosted = await h.start("1002", "ipaymu:link")  # X: same amount, no trx id yet
    assert hosted.external_id is None and hosted.amount == paid.amount
    body = unsigned_ipaymu(hosted.reference, paid.external_id, 1, hosted.amount)
    assert await post(http, h.callback_url, body, FORM) == 200
    rows = await h.rows(select(Payment.reference, Payment.status, Payment.needs_review))
    expected = [(paid.reference, "paid", False), (hosted.reference, "pending", True)]
    assert sorted(rows) == sorted(expected)
    [(verified, outcome)] = await h.rows(
        select(PaymentEvent.verified, PaymentEvent.outcome).where(
            PaymentEvent.reference == hosted.reference
        )
    )
    assert (verified, outcome) == (False, "review")


async def test_a_made_up_transaction_id_is_a_400_not_a_500(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    h = await ipaymu(aiohttp_server, db_url)
    payment = await h.start("1001", "ipaymu:link")  # no id of iPaymu's: it asks by the callback's
    body = unsigned_ipaymu(payment.reference, 987654321, 1, payment.amount)
    assert await post(http, h.callback_url, body, FORM) == 400
    [(status,)] = await h.rows(select(Payment.status))
    assert status == "pending"


async def test_a_lone_surrogate_in_an_unsigned_callback_does_not_hold_the_database(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    h = await ipaymu(aiohttp_server, db_url)
    payments = [await h.start(str(1000 + i)) for i in range(5)]
    hostile = json.dumps(
        {"reference_id": payments[0].reference, "trx_id": 9, "status_code": "1\udfff"}
        | {"sub_total": "1", "x": "\x00" + "y" * 500}
    ).encode()
    headers = {"Content-Type": "application/json"}

    async def good(payment: Payment) -> int:
        h.pay(payment.reference)
        return await h.send(http, h.callback_url, payment.reference)

    sent = await asyncio.gather(
        *(post(http, h.callback_url, hostile, headers) for _ in range(20)),
        *(good(p) for p in payments[1:]),
    )
    assert all(s < 500 for s in sent), sent
    started = time.monotonic()
    async with http.get(h.running.url("/healthz")) as resp:
        assert resp.status == 200
    assert await good(payments[0]) == 200
    assert time.monotonic() - started < 5  # a liveness bound; the freeze was 28 s
    statuses = await h.rows(select(Payment.status))
    assert statuses == [("paid",)] * 5


async def test_a_signed_callback_split_into_segments_with_pauses_is_accepted(
    running: Running,
) -> None:
    payment = await pay_order(running)
    body, headers = signed(
        {
            "reference": payment.reference,
            "id": payment.external_id,
            "status": "PAID",
            "amount": payment.amount,
            "currency": "IDR",
            "method": "va:bca",
        }
    )
    head = (
        f"POST /callbacks/sandbox HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Sandbox-Signature: {headers['X-Sandbox-Signature']}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", running.runtime.config.server.port)
    writer.write(head)
    for i in range(0, len(body), 7):
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(body[i : i + 7])
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"200", status_line
    [(status,)] = await query(running, select(Payment.status))
    assert status == "paid"


async def test_a_flood_of_forgeries_is_kept_once_per_body_and_minute_and_cut_short(
    running: Running, http: aiohttp.ClientSession
) -> None:
    junk = b'{"reference": "' + b"J" * 60_000 + b'"}'
    url = running.url("/callbacks/sandbox")
    sent = await asyncio.gather(*(post(http, url, junk, {}) for _ in range(50)))
    assert set(sent) == {401}
    refused = running.runtime.refused
    assert refused is not None
    await refused.flush()
    [(count, longest)] = await query(
        running, select(func.count(), func.max(func.length(PaymentEvent.body)))
    )
    assert count == 1 and longest == BODY_LIMIT
    async with http.get(running.url("/metrics")) as resp:
        text = await resp.text()
    assert 'checkout_refused_callbacks_total{outcome="kept"} 1.0' in text
    assert 'checkout_refused_callbacks_total{outcome="repeat"} 49.0' in text


async def test_refused_callbacks_are_pruned_after_their_retention(
    running: Running, http: aiohttp.ClientSession
) -> None:
    assert await post(http, running.url("/callbacks/sandbox"), b"junk", {}) == 401
    refused = running.runtime.refused
    assert refused is not None
    await refused.flush()
    async with running.runtime.uow() as store:
        assert await store.payments.prune_refused(running.runtime.clock() - timedelta(days=1)) == 0
        later = running.runtime.clock() + timedelta(seconds=1)
        assert await store.payments.prune_refused(later) == 1
    assert await query(running, select(func.count()).select_from(PaymentEvent)) == [(0,)]


async def test_a_flood_of_refusals_is_answered_slowly_past_the_calm_share(
    running: Running,
) -> None:
    refused = running.runtime.refused
    assert refused is not None
    pauses = [refused.pause() for _ in range(CALM_PER_SECOND + 5)]
    assert set(pauses[: CALM_PER_SECOND // 2]) == {0.0}  # a second may turn during the loop
    assert pauses[-1] == TARPIT


async def test_the_running_app_prunes_old_refused_callbacks_with_no_new_traffic(
    running: Running,
) -> None:
    runtime = running.runtime
    old = runtime.clock() - timedelta(seconds=runtime.config.callbacks.keep_refused + 60)
    row = {"payment_id": None, "gateway": "sandbox", "source": "callback", "reference": None}
    row |= {"raw_status": None, "status": None, "outcome": "rejected", "verified": False}
    async with runtime.uow() as store:
        await store.payments.add_events(
            [row | {"body": "x", "dedupe_key": None, "created_at": old}]
        )
    for _ in range(100):  # the first prune comes one flush interval after start
        if await query(running, select(func.count()).select_from(PaymentEvent)) == [(0,)]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the old refused callback was not pruned")
