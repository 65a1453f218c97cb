"""GET and POST /whatsapp/webhook on the running app: the verification challenge, the
signature over the raw body, every entry and message of a payload, identity fields that may
be missing, routing by phone number id, and Meta's retries answered once, also by another
instance on the same database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.whatsapp.channel import WEBHOOK_PATH
from storage.models import Customer, WhatsAppSeen
from tests.channels.telegram.kit import rows
from tests.channels.whatsapp.fake import APP_SECRET, VERIFY_TOKEN, FakeGraphAPI, signature
from tests.channels.whatsapp.kit import CUSTOMER, WaUser, handled, serve_fake, start_whatsapp
from tests.conftest import Running

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


@pytest.fixture
async def app(aiohttp_server: Any, db_url: str, fake: FakeGraphAPI) -> Running:
    return await start_whatsapp(aiohttp_server, db_url, fake)


async def get(running: Running, query: dict[str, str]) -> tuple[int, str]:
    url = running.url(WEBHOOK_PATH)
    async with aiohttp.ClientSession() as http, http.get(url, params=query) as response:
        return response.status, await response.text()


async def test_the_verification_challenge_is_echoed_for_our_verify_token(app: Running) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    assert await get(app, query) == (200, "1158201444")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "my-verify-token-123", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN[:-1], "hub.challenge": "1"},
    ],
)
async def test_a_wrong_verification_is_refused_with_403(
    app: Running, query: dict[str, str]
) -> None:
    status, body = await get(app, query)
    assert status == 403 and "1" not in body.replace("403", "")


async def test_the_worked_example_is_accepted_and_answered(
    app: Running, fake: FakeGraphAPI
) -> None:
    example = recording("x_hub_signature_256_example")
    assert example["app_secret"] == APP_SECRET
    raw = example["raw_body"].encode()
    fake.posted += 1
    assert await fake.post_raw(raw, example["header_value"]) == 200
    await handled(app, fake)
    [answer] = fake.to(CUSTOMER)
    assert answer.type == "interactive"  # the typed order, confirmed back with buttons
    assert fake.read_marks == ["wamid.IN.0001"]


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("", 401), ("sha256=" + "0" * 64, 403), ("sha1=abc", 403), ("garbage", 403)],
)
async def test_a_forged_webhook_is_refused_and_changes_nothing(
    app: Running, fake: FakeGraphAPI, header: str | None, status: int
) -> None:
    raw = json.dumps(recording("webhook_text_message")).encode()
    assert await fake.post_raw(raw, header) == status
    assert await rows(app, select(WhatsAppSeen)) == []
    assert fake.sent == []


async def test_a_body_signed_before_it_was_reserialized_is_refused(
    app: Running, fake: FakeGraphAPI
) -> None:
    example = recording("x_hub_signature_256_example")
    reserialized = json.dumps(json.loads(example["raw_body"]), indent=1).encode()
    assert await fake.post_raw(reserialized, example["header_value"]) == 403


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{" * 5000])
async def test_a_signed_body_that_is_not_a_json_object_is_a_400(
    app: Running, fake: FakeGraphAPI, raw: bytes
) -> None:
    assert await fake.post_raw(raw, signature(APP_SECRET, raw)) == 400


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"entry": "x"},
        {"entry": [{"changes": [{"value": {"messages": [{"id": 5}, "x", None]}}]}]},
        {"entry": [{"changes": [{"value": {"messages": [{"id": "w1", "type": "text"}]}}]}]},
        {"entry": [{"changes": [{"value": {"statuses": [{"id": "w", "status": 7}]}}]}]},
    ],
)
async def test_signed_payloads_of_odd_shapes_are_acknowledged_and_skipped(
    app: Running, fake: FakeGraphAPI, body: dict[str, Any]
) -> None:
    raw = json.dumps(body).encode()
    assert await fake.post_raw(raw, signature(APP_SECRET, raw)) == 200
    assert fake.sent == []


async def test_every_entry_change_and_message_is_answered(
    app: Running, fake: FakeGraphAPI
) -> None:
    one = fake.message("6281200000001", "text", {"body": "hi"})
    two = fake.message("6281200000002", "text", {"body": "hi"})
    three = fake.message("6281200000003", "text", {"body": "hi"})
    two["messages"] += three["messages"]
    two["contacts"] += three["contacts"]
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [{"field": "messages", "value": one}]},
            {"id": "2", "changes": [{"field": "messages", "value": two}]},
        ],
    }
    raw = json.dumps(body).encode()
    fake.posted += 3
    assert await fake.post_raw(raw, signature(APP_SECRET, raw)) == 200
    await handled(app, fake)
    assert {s.to for s in fake.sent} == {"6281200000001", "6281200000002", "6281200000003"}


async def test_a_username_only_customer_is_answered_by_business_scoped_id(
    app: Running, fake: FakeGraphAPI
) -> None:
    raw = json.dumps(recording("webhook_text_message_username_only")).encode()
    fake.posted += 1
    assert await fake.post_raw(raw, signature(APP_SECRET, raw)) == 200
    await handled(app, fake)
    [answer] = fake.sent
    assert answer.to == "ID.1234567890123456789"
    [(phone,)] = await rows(app, select(Customer.phone))
    assert phone is None  # WhatsApp did not give the number: the checkout will ask


async def test_a_message_for_another_phone_number_id_is_not_answered(
    app: Running, fake: FakeGraphAPI
) -> None:
    value = fake.message(CUSTOMER, "text", {"body": "hi"})
    value["metadata"] = {"phone_number_id": "999999999999999"}
    assert await fake.push(value) == 200
    await handled(app, fake)
    assert fake.sent == []


async def test_a_redelivered_message_is_answered_once(app: Running, fake: FakeGraphAPI) -> None:
    value = fake.message(CUSTOMER, "text", {"body": "hi"}, message_id="wamid.IN.RETRY")
    for _ in range(3):  # Meta did not see our 200 in time, and tried again
        assert await fake.push(value) == 200
        await handled(app, fake)
    assert len(fake.sent) == 1


async def test_a_redelivery_to_another_instance_is_answered_once(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI, app: Running
) -> None:
    other = await start_whatsapp(aiohttp_server, db_url, fake)
    fake.webhook_url, fake.send_statuses = app.url(WEBHOOK_PATH), False
    value = fake.message(CUSTOMER, "text", {"body": "hi"}, message_id="wamid.IN.TWICE")
    assert await fake.push(value) == 200
    await handled(app, fake)
    fake.webhook_url = other.url(WEBHOOK_PATH)
    assert await fake.push(value) == 200
    await handled(other, fake, expected=fake.posted - 1)
    assert len(fake.sent) == 1


async def test_the_phone_is_taken_from_whatsapp_and_the_name_from_the_profile(
    app: Running, fake: FakeGraphAPI
) -> None:
    await WaUser(fake, app).say("hi")
    [(phone,)] = await rows(app, select(Customer.phone))
    assert phone == "+6281234567890"


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("image", {"id": "1", "mime_type": "image/jpeg"}),
        ("sticker", {"id": "2"}),
        ("location", {"latitude": -6.2, "longitude": 106.8}),
        ("unsupported", {}),
        ("audio", {"id": "3"}),
    ],
)
async def test_what_we_cannot_read_gets_a_helpful_answer(
    app: Running, fake: FakeGraphAPI, kind: str, content: dict[str, Any]
) -> None:
    [answer, *_] = await WaUser(fake, app).send(kind, content)
    assert answer.text and answer.choice_ids  # what it can do, with the menu


async def test_a_tap_on_a_stale_button_gets_a_fresh_menu(app: Running, fake: FakeGraphAPI) -> None:
    ana = WaUser(fake, app)
    await ana.say("hi")
    answer = await ana.tap_id("cxly:ZZZZZZ")  # an old "yes, cancel" of an order long gone
    assert answer and any(s.choice_ids for s in answer)
