"""The conversation's WhatsApp shapes on the running app: a QRIS code as an uploaded image
heading its buttons, a payment link as a cta_url button, a customer without a number asked
for it with WhatsApp's contact prompt, and the merchant desk on a merchant number."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.whatsapp.fake import FakeGraphAPI
from tests.channels.whatsapp.kit import (
    MERCHANT,
    WaUser,
    checkout_to_summary,
    serve_fake,
    start_whatsapp,
)
from tests.conftest import Running


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


@pytest.fixture
async def app(aiohttp_server: Any, db_url: str, fake: FakeGraphAPI) -> Running:
    return await start_whatsapp(aiohttp_server, db_url, fake)


async def test_a_qris_code_is_an_uploaded_image_over_its_buttons(
    app: Running, fake: FakeGraphAPI
) -> None:
    ana = WaUser(fake, app)
    await checkout_to_summary(ana)
    [qr, *_] = await ana.tap("pay:sandbox:qris")
    header = qr.payload["header"]
    assert qr.type == "interactive" and header["type"] == "image"
    assert fake.media[header["image"]["id"]].startswith(b"\x89PNG")
    assert any(c.startswith("chk:") for c in qr.choice_ids)


async def test_a_payment_link_is_a_cta_url_button(app: Running, fake: FakeGraphAPI) -> None:
    ana = WaUser(fake, app)
    await checkout_to_summary(ana)
    answer = await ana.tap("pay:sandbox:link")
    [cta] = [s for s in answer if s.payload.get("type") == "cta_url"]
    assert cta.payload["action"]["parameters"]["url"].startswith(app.url("/sandbox/"))
    assert any(c.startswith("chk:") for s in answer for c in s.choice_ids)


async def test_a_customer_without_a_number_is_asked_with_the_contact_prompt(
    app: Running, fake: FakeGraphAPI
) -> None:
    bsuid = "ID.1234567890123456789"
    ana = WaUser(fake, app, bsuid)
    await ana.say("hi")
    await ana.tap("m:catalog")
    await ana.tap("cat:coffee")
    await ana.tap("add:KOPI-SUSU")
    await ana.tap("co")
    asked = await ana.tap("ck:name")
    assert [s.payload.get("type") for s in asked] == ["request_contact_info"]
    assert all(s.to == bsuid for s in asked)
    card = {
        "origin": "contact_request",
        "phones": [{"phone": "+62 812-3456-7890", "wa_id": "6281234567890"}],
    }
    answer = await ana.send("contacts", [card])  # type: ignore[arg-type]
    assert "Ana · +6281234567890" not in answer[0].text  # next: the address
    await ana.say("Jl. Merdeka No. 1, Jakarta")
    summary = await fake.wait_for(lambda: ana._offering("pay:"))
    assert "+6281234567890" in summary.text


async def test_the_merchant_number_gets_the_desk_and_a_customer_the_polite_no(
    app: Running, fake: FakeGraphAPI
) -> None:
    [desk, *_] = await WaUser(fake, app, MERCHANT).say("/stats")
    [refused, *_] = await WaUser(fake, app).say("/stats")
    assert "staf" not in desk.text.lower()
    assert "staf" in refused.text.lower()
