"""The callback log and its replay, over real HTTP: GET /api/events, POST
/api/events/{id}/replay, and /callbacks, /stuck in the merchant's Telegram chat (the fake Bot
API), with the sandbox gateway's signed callbacks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.config import Api
from payments.gateways.sandbox.adapter import SIGNATURE_HEADER
from storage.models import Order, Outbox, Payment, PaymentEvent
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    TgUser,
    outbox_settled,
    serve_fake,
    telegram_settings,
)
from tests.conftest import SANDBOX_SECRET, free_port, make_config
from tests.integration.apikit import CUSTOMER, TOKEN, ApiClient, start_api
from tests.integration.test_cli import config_for
from tests.unit.test_config import cli

CHAT = 4242


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def start(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, http: aiohttp.ClientSession, **sandbox: Any
) -> ApiClient:
    """The app with the API, the Telegram channel on the fake and the poller off (only the
    test decides when a gateway is asked)."""
    config = make_config(
        db_url, free_port(), telegram=telegram_settings(fake, "webhook"), **sandbox
    )
    reconcile = replace(config.reconcile, enabled=False)
    config = replace(config, api=Api(token=TOKEN), reconcile=reconcile)
    return await start_api(aiohttp_server, config, http)


@pytest.fixture
async def api(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, http: aiohttp.ClientSession
) -> ApiClient:
    return await start(aiohttp_server, db_url, fake, http)


async def place(api: ApiClient) -> str:
    order = await api.place(customer={**CUSTOMER, "telegram_chat_id": CHAT, "language": "en"})
    return str(order["code"])


def signed(body: dict[str, Any], secret: str = SANDBOX_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: signature}


async def post_callback(api: ApiClient, body: dict[str, Any], secret: str = SANDBOX_SECRET) -> int:
    raw, headers = signed(body, secret)
    async with api.http.post(
        api.running.url("/callbacks/sandbox"), data=raw, headers=headers
    ) as answer:
        return answer.status


async def state(api: ApiClient) -> tuple[Any, ...]:
    """Everything a replay must not change the second time."""
    payments = await api.rows(
        select(Payment.id, Payment.status, Payment.paid_at, Payment.needs_review)
    )
    orders = await api.rows(select(Order.code, Order.status, Order.paid_at))
    outbox = await api.rows(select(Outbox.dedupe_key).order_by(Outbox.dedupe_key))
    return tuple(payments), tuple(orders), tuple(outbox)


async def told(api: ApiClient, fake: FakeBotAPI, code: str) -> int:
    """How many payment confirmations the customer's chat got for this order."""
    await outbox_settled(api.running)
    return sum("Payment received" in c.text and code in c.text for c in fake.sent(CHAT))


async def the_event(api: ApiClient, **query: str) -> dict[str, Any]:
    listed = await api.call("GET", "/api/events?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert listed.status == 200, listed.body
    [event] = listed.body["events"]
    return dict(event)


async def test_a_verified_callback_replayed_twice_changes_nothing_the_second_time(
    api: ApiClient, fake: FakeBotAPI
) -> None:
    code = await place(api)
    payment = await api.pay_with(code)
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    assert await told(api, fake, code) == 1
    event = await the_event(api, gateway="sandbox", outcome="applied")
    assert event["source"] == "callback" and event["verified"] and event["status"] == "paid"
    assert event["reference"] == payment["reference"]
    before = await state(api)
    first = await api.call("POST", f"/api/events/{event['id']}/replay")
    assert first.status == 200, first.body
    assert first.body["outcome"] == "duplicate" and first.body["event"] == event
    after_first = await state(api)
    second = await api.call("POST", f"/api/events/{event['id']}/replay")
    assert second.status == 200 and second.body["outcome"] == "duplicate"
    assert await state(api) == after_first == before
    assert await told(api, fake, code) == 1
    replays = await api.rows(select(PaymentEvent.outcome).where(PaymentEvent.source == "replay"))
    assert replays == [("duplicate",), ("duplicate",)]  # kept for the audit, changing nothing


async def test_an_unmatched_callback_replayed_asks_the_gateway_and_pays_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    """The callback came before its payment was stored (and the gateway's own, later, was
    lost): its replay asks the gateway now; a second replay changes nothing."""
    api = await start(aiohttp_server, db_url, fake, http, drop_share=1.0)
    code = await place(api)
    reference = f"{code}01"  # payments/base.py payment_reference: the first attempt's
    early = {"reference": reference, "id": "sbx-early", "status": "PAID", "amount": 50000}
    assert await post_callback(api, {**early, "currency": "IDR", "method": "va:bca"}) == 200
    event = await the_event(api, outcome="unmatched")
    assert event["verified"] and event["payment_id"] is None and event["reference"] == reference
    payment = await api.pay_with(code)
    assert payment["reference"] == reference
    await api.runtime.gateways["sandbox"].settle(reference, "pay")  # its callback is dropped
    await api.runtime.sandbox.flush()
    assert (await api.call("GET", f"/api/payments/{payment['id']}")).body["status"] == "pending"
    first = await api.call("POST", f"/api/events/{event['id']}/replay")
    assert first.status == 200, first.body
    assert first.body["outcome"] == "applied" and first.body["asked"]
    assert first.body["payment_id"] == payment["id"]
    assert (await api.call("GET", f"/api/orders/{code}")).body["status"] == "paid"
    assert await told(api, fake, code) == 1
    before = await state(api)
    api.clock.advance(seconds=60)  # past the check-status interval: the gateway may be asked
    second = await api.call("POST", f"/api/events/{event['id']}/replay")
    assert second.status == 200 and second.body["outcome"] == "duplicate"
    assert await state(api) == before
    assert await told(api, fake, code) == 1


async def test_an_unverified_callback_is_listed_and_never_replayed(
    api: ApiClient, fake: FakeBotAPI
) -> None:
    code = await place(api)
    payment = await api.pay_with(code)
    forged = {"reference": payment["reference"], "id": "x", "status": "PAID", "amount": 50000}
    forged |= {"currency": "IDR", "method": "va:bca"}
    assert await post_callback(api, forged, secret="not-the-secret") == 401
    await api.runtime.refused.flush()
    event = await the_event(api, outcome="rejected")
    assert not event["verified"] and event["gateway"] == "sandbox"
    before = await state(api)
    refused = await api.call("POST", f"/api/events/{event['id']}/replay")
    assert refused.status == 409 and refused.body["error"]["code"] == "unverified_event"
    assert await state(api) == before
    assert (await api.call("GET", f"/api/payments/{payment['id']}")).body["status"] == "pending"
    boss = TgUser(fake, api.running, MERCHANT_CHAT)
    [listing] = await boss.say("/callbacks sandbox")
    assert f"#{event['id']}" in listing.text and "tidak terverifikasi" in listing.text
    assert f"mr:{event['id']}" not in str(listing.params)  # no replay button for it
    [answer] = await boss.tap_data(f"mr:{event['id']}")  # an old or crafted button
    assert "tidak pernah terverifikasi" in answer.text  # the shop's language: Indonesian
    assert await state(api) == before
    assert await told(api, fake, code) == 0


async def test_the_event_list_filters_pages_and_refuses_a_bad_query(api: ApiClient) -> None:
    for _ in range(3):
        code = await place(api)
        payment = await api.pay_with(code)
        await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    page = await api.call("GET", "/api/events?gateway=sandbox&limit=2")
    assert page.status == 200 and len(page.body["events"]) == 2
    ids = [e["id"] for e in page.body["events"]]
    assert ids == sorted(ids, reverse=True)
    rest = await api.call("GET", f"/api/events?gateway=sandbox&cursor={page.body['next_cursor']}")
    assert all(e["id"] < ids[-1] for e in rest.body["events"]) and rest.body["events"]
    total = await api.rows(select(func.count()).select_from(PaymentEvent))
    assert len(page.body["events"]) + len(rest.body["events"]) == total[0][0]
    since = page.body["events"][0]["created_at"].replace("+00:00", "Z")
    newest = await api.call("GET", f"/api/events?since={since}")
    assert newest.status == 200 and page.body["events"][0] in newest.body["events"]
    later = await api.call("GET", "/api/events?since=2999-01-01T00:00:00Z")
    assert later.status == 200 and later.body == {"events": [], "next_cursor": None}
    none = await api.call("GET", "/api/events?gateway=midtrans")
    assert none.body["events"] == []
    for bad in ("since=yesterday", "since=2026-11-22T00:00:00", "outcome=great", "gateway=A!"):
        refused = await api.call("GET", f"/api/events?{bad}")
        assert refused.status == 422, bad
    orders_cursor = await api.call("GET", "/api/orders?limit=1")
    other = await api.call("GET", f"/api/events?cursor={orders_cursor.body['next_cursor']}")
    assert other.status == 422
    unknown = await api.call("POST", "/api/events/999999/replay")
    assert unknown.status == 404 and unknown.body["error"]["code"] == "unknown_event"


async def test_the_merchant_sees_callbacks_replays_by_button_and_sees_stuck_payments(
    api: ApiClient, fake: FakeBotAPI
) -> None:
    """A callback with the wrong amount: flagged for review, so the gateway (paid) and the
    shop (processing) disagree until someone looks; its replay asks the gateway again."""
    code = await place(api)
    payment = await api.pay_with(code)
    wrong = {"reference": payment["reference"], "id": "sbx-1", "status": "PAID", "amount": 1000}
    assert await post_callback(api, {**wrong, "currency": "IDR", "method": "va:bca"}) == 200
    event = await the_event(api, outcome="review")
    await outbox_settled(api.running)  # the review notice is out before the chat begins
    boss = TgUser(fake, api.running, MERCHANT_CHAT)
    [stuck] = await boss.say("/stuck")
    assert code in stuck.text and "processing" in stuck.text and "paid" in stuck.text
    [listing] = await boss.say("/callbacks")
    assert f"#{event['id']}" in listing.text and "review" in listing.text
    before = await state(api)
    [replayed] = await boss.tap(f"mr:{event['id']}")
    assert f"Event {event['id']} diulang" in replayed.text
    assert await state(api) == before  # the gateway says pending: nothing to change
    [help_text] = await boss.say("/help")
    assert "/callbacks" in help_text.text and "/stuck" in help_text.text
    customer = TgUser(fake, api.running, CHAT, language="en")
    [refusal] = await customer.say("/stuck")
    assert "only for the shop" in refusal.text


async def test_orders_list_stuck_on_the_command_line(
    api: ApiClient, tmp_path: Path, db_url: str
) -> None:
    code = await place(api)
    payment = await api.pay_with(code)
    calm = await orders(tmp_path, db_url, "list", "--stuck")
    assert calm.returncode == 0 and calm.stdout.strip() == "no stuck payments", calm.stderr
    wrong = {"reference": payment["reference"], "id": "sbx-1", "status": "PAID", "amount": 1000}
    assert await post_callback(api, {**wrong, "currency": "IDR", "method": "va:bca"}) == 200
    table = await orders(tmp_path, db_url, "list", "--stuck")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split()[:5] == ["ORDER", "REFERENCE", "GATEWAY", "HERE", "AT"]
    assert row.split()[:5] == [code, payment["reference"], "sandbox", "processing", "paid"]
    listed = await orders(tmp_path, db_url, "list", "--stuck", "--json")
    [stuck] = json.loads(listed.stdout)
    assert stuck["order_code"] == code and stuck["needs_review"]
    assert stuck["gateway_status"] == "paid" and stuck["event"]["outcome"] == "review"


async def orders(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = config_for(tmp_path, db_url)
    return await asyncio.to_thread(cli, "--config", str(config), "orders", *args, cwd=tmp_path)
