"""Refunds through the API against the sandbox provider: in part, then the rest, each told to
the customer once; never more than was paid, also when two refunds race; an
Idempotency-Key makes a retried refund the same refund."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from sqlalchemy import select

from storage.models import Outbox, Payment, Refund
from tests.integration.apikit import ApiClient, api_config, start_api


async def paid_order(api: ApiClient) -> tuple[str, dict[str, Any]]:
    """Two Kopi Susu (Rp 50.000), paid at the sandbox."""
    order = await api.place()
    payment = await api.pay_with(order["code"], "sandbox:qris")
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    return order["code"], payment


async def told(api: ApiClient) -> list[dict[str, Any]]:
    rows = await api.rows(select(Outbox.payload).where(Outbox.kind == "refund_done"))
    return [payload for (payload,) in rows]


async def test_a_part_then_the_rest_each_told_once(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url), http)
    code, payment = await paid_order(api)
    part = await api.call("POST", f"/api/orders/{code}/refund", {"amount": 20000})
    assert part.status == 202, part.body
    assert part.body["status"] == "done" and part.body["amount"] == 20000
    assert part.body["order_code"] == code and part.body["payment_id"] == payment["id"]
    assert (await api.call("GET", f"/api/payments/{payment['id']}")).body["status"] == "paid"
    rest = await api.call("POST", f"/api/orders/{code}/refund", {})
    assert rest.status == 202 and rest.body["amount"] == 30000 and rest.body["status"] == "done"
    order = (await api.call("GET", f"/api/orders/{code}")).body
    assert [r["amount"] for r in order["refunds"]] == [20000, 30000]
    assert order["payments"][0]["status"] == "refunded"
    assert [(p["amount"], p["whole"]) for p in await told(api)] == [(20000, False), (30000, True)]
    provider = api.runtime.sandbox.payments[payment["reference"]]
    assert provider.status == "REFUNDED" and provider.refunded == 50000
    again = await api.call("POST", f"/api/orders/{code}/refund", {"amount": 1})
    assert again.status == 409 and again.body["error"]["code"] == "not_refundable"


async def test_more_than_was_paid_is_refused_naming_the_amount(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url), http)
    code, _ = await paid_order(api)
    too_much = await api.call("POST", f"/api/orders/{code}/refund", {"amount": 50001})
    assert too_much.status == 422, too_much.body
    assert too_much.body["error"]["fields"][0]["field"] == "amount"
    unpaid = await api.place()
    none = await api.call("POST", f"/api/orders/{unpaid['code']}/refund", {})
    assert none.status == 409 and none.body["error"]["code"] == "not_refundable"
    assert await api.rows(select(Refund.id)) == []


async def test_two_racing_refunds_cannot_both_go_through(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url), http)
    code, _ = await paid_order(api)
    answers = await asyncio.gather(
        *(api.call("POST", f"/api/orders/{code}/refund", {"amount": 30000}) for _ in range(2))
    )
    assert sorted(a.status for a in answers) == [202, 422]
    assert await api.rows(select(Refund.amount, Refund.status)) == [(30000, "done")]
    assert len(await told(api)) == 1


async def test_a_retried_refund_with_its_key_is_the_same_refund(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url), http)
    code, _ = await paid_order(api)
    key = {"Idempotency-Key": "refund-0001"}
    first = await api.call("POST", f"/api/orders/{code}/refund", {"amount": 10000}, headers=key)
    second = await api.call("POST", f"/api/orders/{code}/refund", {"amount": 10000}, headers=key)
    assert first.status == second.status == 202
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.body["id"] == first.body["id"]  # the refund as first accepted, not a new one
    assert (first.body["status"], second.body["status"]) == ("done", "requested")
    assert await api.rows(select(Refund.amount)) == [(10000,)]
    assert await api.rows(select(Payment.status)) == [("paid",)]
