"""Payments through the HTTP API: create (with Idempotency-Key), read, and check status now."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from storage.models import IdempotencyKey, Outbox
from tests.integration.apikit import ApiClient, Clock, api_config, start_api


@pytest.fixture
async def api(aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession) -> ApiClient:
    return await start_api(aiohttp_server, api_config(db_url), http)


@pytest.fixture
async def lossy(aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession) -> ApiClient:
    """The sandbox loses every callback: only a status query can find a payment paid."""
    return await start_api(aiohttp_server, api_config(db_url, drop_share=1.0), http, Clock())


def pay_in_sandbox(api: ApiClient, reference: str) -> None:
    """The customer pays at the gateway (with `lossy`, nobody is told)."""
    provider = api.runtime.sandbox
    provider.act(provider.find(reference), "pay")


async def outbox(api: ApiClient) -> list[tuple[str, str, str]]:
    rows = await api.rows(select(Outbox.kind, Outbox.channel, Outbox.address).order_by(Outbox.id))
    return [tuple(row) for row in rows]


# ---- creating and reading ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "kind"),
    [("sandbox:va:bca", "va"), ("sandbox:qris", "qris"), ("sandbox:link", "link")],
)
async def test_a_payment_answers_with_its_instructions(
    api: ApiClient, method: str, kind: str
) -> None:
    order = await api.place()
    answer = await api.call("POST", f"/api/orders/{order['code']}/payments", {"method": method})
    assert answer.status == 201, answer.body
    payment = answer.body
    assert payment["order_code"] == order["code"] and payment["method"] == method
    assert (payment["amount"], payment["currency"]) == (50000, "IDR")
    assert payment["status"] == "pending" and payment["gateway"] == "sandbox"
    assert payment["instructions"]["kind"] == kind
    assert payment["reference"] == f"{order['code']}01" and payment["expires_at"]
    read = await api.call("GET", f"/api/payments/{payment['id']}")
    assert read.status == 200 and read.body == payment
    detail = await api.call("GET", f"/api/orders/{order['code']}")
    assert detail.body["payments"] == [payment]
    assert [e["source"] for e in detail.body["events"]] == []


async def test_asking_again_with_the_same_method_returns_the_live_attempt(api: ApiClient) -> None:
    order = await api.place()
    first = await api.pay_with(order["code"])
    again = await api.pay_with(order["code"])
    assert again == first
    other = await api.pay_with(order["code"], "sandbox:qris")
    assert other["id"] != first["id"] and other["reference"].endswith("02")
    old = await api.call("GET", f"/api/payments/{first['id']}")
    assert old.body["status"] == "cancelled"


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("midtrans:va:bca", "method_unavailable"),
        ("sandbox:va:bni", "method_unavailable"),
        ("sandbox:va", "invalid"),
        ("Sandbox:QRIS", "invalid"),
        ("cash", "invalid"),
    ],
)
async def test_a_method_the_shop_does_not_offer_is_422_naming_method(
    api: ApiClient, method: str, code: str
) -> None:
    order = await api.place()
    answer = await api.call("POST", f"/api/orders/{order['code']}/payments", {"method": method})
    assert (answer.status, answer.body["error"]["code"]) == (422, code)
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["method"]


async def test_a_cancelled_order_is_not_payable(api: ApiClient) -> None:
    order = await api.place()
    await api.call("POST", f"/api/orders/{order['code']}/cancel")
    answer = await api.call(
        "POST", f"/api/orders/{order['code']}/payments", {"method": "sandbox:qris"}
    )
    assert (answer.status, answer.body["error"]["code"]) == (409, "not_payable")


@pytest.mark.parametrize("payment_id", ["999", "0", "abc", "99999999999", "-1"])
async def test_an_unknown_payment_is_404(api: ApiClient, payment_id: str) -> None:
    for method, path in [
        ("GET", f"/api/payments/{payment_id}"),
        ("POST", f"/api/payments/{payment_id}/check-status"),
    ]:
        answer = await api.call(method, path)
        assert (answer.status, answer.body["error"]["code"]) == (404, "unknown_payment")


# ---- Idempotency-Key -------------------------------------------------------------------------


async def test_the_same_key_and_body_get_the_same_answer_even_after_the_payment_moved_on(
    api: ApiClient,
) -> None:
    order = await api.place()
    path, key = f"/api/orders/{order['code']}/payments", {"Idempotency-Key": "pay-A7-1"}
    first = await api.call("POST", path, {"method": "sandbox:va:bca"}, headers=key)
    assert first.status == 201
    await api.runtime.gateways["sandbox"].settle(first.body["reference"], "pay")
    await api.runtime.sandbox.flush()
    again = await api.call("POST", path, {"method": "sandbox:va:bca"}, headers=key)
    assert (again.status, again.body) == (201, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    without = await api.call("POST", path, {"method": "sandbox:va:bca"})
    assert (without.status, without.body["error"]["code"]) == (409, "not_payable")


async def test_the_same_key_with_another_body_is_409(api: ApiClient) -> None:
    order = await api.place()
    path, key = f"/api/orders/{order['code']}/payments", {"Idempotency-Key": "pay-A7-2"}
    assert (await api.call("POST", path, {"method": "sandbox:qris"}, headers=key)).status == 201
    other = await api.call("POST", path, {"method": "sandbox:link"}, headers=key)
    assert (other.status, other.body["error"]["code"]) == (409, "idempotency_conflict")
    elsewhere = await api.call("POST", "/api/orders", {"items": [], "customer": {}}, headers=key)
    assert (elsewhere.status, elsewhere.body["error"]["code"]) == (409, "idempotency_conflict")


async def test_creating_an_order_twice_with_one_key_places_one_order(api: ApiClient) -> None:
    body = {
        "items": [{"sku": "KOPI-SUSU", "quantity": 1}],
        "customer": {"name": "Budi", "phone": "081211112222"},
    }
    key = {"Idempotency-Key": "order-1"}
    first = await api.call("POST", "/api/orders", body, headers=key)
    again = await api.call("POST", "/api/orders", body, headers=key)
    assert first.status == again.status == 201 and again.body == first.body
    listed = await api.call("GET", "/api/orders")
    assert [o["code"] for o in listed.body["orders"]] == [first.body["code"]]


async def test_an_error_answer_is_kept_too_but_a_bad_key_is_refused(api: ApiClient) -> None:
    body = {"items": [{"sku": "NOPE", "quantity": 1}], "customer": {"name": "B", "phone": "1"}}
    key = {"Idempotency-Key": "order-2"}
    first = await api.call("POST", "/api/orders", body, headers=key)
    again = await api.call("POST", "/api/orders", body, headers=key)
    assert first.status == again.status == 422 and again.body == first.body
    bad = await api.call("POST", "/api/orders", body, headers={"Idempotency-Key": "a b"})
    assert [f["field"] for f in bad.body["error"]["fields"]] == ["Idempotency-Key"]


async def test_the_answer_survives_a_restart_on_the_same_database(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    before = await start_api(aiohttp_server, api_config(db_url), http)
    order = await before.place()
    path, key = f"/api/orders/{order['code']}/payments", {"Idempotency-Key": "restart-1"}
    first = await before.call("POST", path, {"method": "sandbox:qris"}, headers=key)
    assert first.status == 201
    await before.running.server.close()
    after = await start_api(aiohttp_server, api_config(db_url), http)
    again = await after.call("POST", path, {"method": "sandbox:qris"}, headers=key)
    assert (again.status, again.body) == (201, first.body)
    conflict = await after.call("POST", path, {"method": "sandbox:link"}, headers=key)
    assert conflict.status == 409
    rows = await after.rows(select(IdempotencyKey.key, IdempotencyKey.status))
    assert rows == [("restart-1", 201)]


# ---- check status now ------------------------------------------------------------------------


async def test_check_status_finds_a_payment_paid_whose_callback_was_lost_and_tells_once(
    lossy: ApiClient,
) -> None:
    order = await lossy.place()
    payment = await lossy.pay_with(order["code"])
    pending = await lossy.call("POST", f"/api/payments/{payment['id']}/check-status")
    assert pending.status == 200
    assert (pending.body["asked"], pending.body["payment"]["status"]) == (True, "pending")
    pay_in_sandbox(lossy, payment["reference"])
    lossy.clock.advance(seconds=10)  # check-status asks at most every 10 s per payment
    checked = await lossy.call("POST", f"/api/payments/{payment['id']}/check-status")
    assert checked.status == 200
    assert checked.body["asked"] and checked.body["changed"]
    assert checked.body["payment"]["status"] == "paid" and checked.body["payment"]["paid_at"]
    again = await lossy.call("POST", f"/api/payments/{payment['id']}/check-status")
    assert again.body["payment"]["status"] == "paid" and not again.body["changed"]
    told = [row for row in await outbox(lossy) if row[0] == "payment_paid"]
    assert told == [("payment_paid", "telegram", "1001")]
    detail = await lossy.call("GET", f"/api/orders/{order['code']}")
    assert detail.body["status"] == "paid"
    assert ("check", "applied") in [(e["source"], e["outcome"]) for e in detail.body["events"]]


async def test_check_status_asked_again_at_once_returns_the_stored_status(
    lossy: ApiClient,
) -> None:
    order = await lossy.place()
    payment = await lossy.pay_with(order["code"])
    first = await lossy.call("POST", f"/api/payments/{payment['id']}/check-status")
    second = await lossy.call("POST", f"/api/payments/{payment['id']}/check-status")
    assert first.body["asked"] and not second.body["asked"]
    assert second.body["payment"]["status"] == "pending"
    assert 0 < second.body["retry_in"] <= 10
