"""An order placed through the API for a Telegram customer: the customer's confirmation is
written once to the outbox, however many paths see the payment paid.

The Telegram channel and its fake Bot API are being built; until they are wired into the app,
this test stops at the outbox row that the worker sends (one row per dedupe key, so one
message). Once they are, it should also assert one sendMessage at the fake Bot API.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from storage.models import Outbox
from tests.integration.apikit import CUSTOMER, api_config, start_api


async def test_a_telegram_customers_api_order_is_confirmed_exactly_once(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    config = api_config(db_url, duplicate_share=1.0)  # every callback arrives twice
    api = await start_api(aiohttp_server, config, http)
    customer = {**CUSTOMER, "telegram_chat_id": 4242, "language": "en"}
    order = await api.place(customer=customer)
    payment = await api.pay_with(order["code"], "sandbox:qris")
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    api.clock.advance(seconds=10)
    checked = await api.call("POST", f"/api/payments/{payment['id']}/check-status")
    assert checked.body["payment"]["status"] == "paid" and not checked.body["changed"]
    rows = await api.rows(
        select(Outbox.kind, Outbox.channel, Outbox.address, Outbox.payload).where(
            Outbox.kind.in_(["payment_paid", "order_paid"])
        )
    )
    told = {(kind, channel, address): payload for kind, channel, address, payload in rows}
    assert len(rows) == len(told) == 2
    confirmation = told[("payment_paid", "telegram", "4242")]
    assert confirmation["order_code"] == order["code"] and confirmation["language"] == "en"
    assert ("order_paid", "telegram", "9001") in told  # the merchant's chat
