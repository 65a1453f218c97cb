"""A whole checkout on WhatsApp against the fake Graph API: the running app, the sandbox
gateway, the outbox worker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.telegram.kit import outbox_settled, pay_at_sandbox, the_payment
from tests.channels.whatsapp.fake import FakeGraphAPI
from tests.channels.whatsapp.kit import (
    MERCHANT,
    WaUser,
    checkout_to_summary,
    serve_fake,
    start_whatsapp,
)


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def test_a_whatsapp_customer_orders_pays_and_is_told_once(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    ana = WaUser(fake, running)
    merchant = WaUser(fake, running, MERCHANT)
    await merchant.say("hi")  # the merchant's 24-hour window is open
    await checkout_to_summary(ana)
    [instructions, *_] = await ana.tap("pay:sandbox:va:bca")
    payment = await the_payment(running)
    code = payment.reference[:6]
    assert code in instructions.text
    mark = fake.last_seq
    await pay_at_sandbox(running, payment.reference)
    told = await ana.wait_text("Pembayaran diterima", code, after=mark)
    assert "Rp 35.000" in told.text
    order = await merchant.wait_text(code, after=mark)
    assert "Kopi Susu" in order.text and "+6281234567890" in order.text
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    assert len([s for s in fake.to(ana.wa_id, after=mark) if "Pembayaran diterima" in s.text]) == 1
    assert fake.refusals == []
