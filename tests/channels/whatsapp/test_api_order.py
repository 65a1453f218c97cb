"""An order placed through the HTTP API for a WhatsApp customer (`whatsapp_id`) is confirmed
on WhatsApp: by the approved template, the customer never having written to the shop."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.channels.telegram.kit import outbox_settled, pay_at_sandbox
from tests.channels.whatsapp.fake import FakeGraphAPI
from tests.channels.whatsapp.kit import API_TOKEN, serve_fake, start_whatsapp

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def test_an_api_order_for_a_whatsapp_customer_is_confirmed_on_whatsapp(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    customer = {"name": "Siti", "phone": "081234567890", "whatsapp_id": "6281299990000"}
    body = {"items": [{"sku": "KOPI-SUSU", "quantity": 1}], "customer": customer}
    async with http.post(running.url("/api/orders"), json=body, headers=AUTH) as response:
        assert response.status == 201
        order = await response.json()
    assert order["customer"]["whatsapp_id"] == "6281299990000"
    method = {"method": "sandbox:va:bca"}
    url = running.url(f"/api/orders/{order['code']}/payments")
    async with http.post(url, json=method, headers=AUTH) as response:
        assert response.status == 201
        payment = await response.json()
    await pay_at_sandbox(running, payment["reference"])
    settled = dict(await outbox_settled(running))
    assert settled["payment_paid"] == "sent"
    [template] = [s for s in fake.to("6281299990000") if s.type == "template"]
    assert order["code"] in template.text
