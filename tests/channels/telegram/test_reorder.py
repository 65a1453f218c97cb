"""Order again on Telegram, through the fake Bot API: a customer who paid once orders the
same again from /start to payment instructions in four taps, with the saved details."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Order, OrderItem
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    TgUser,
    checkout_to_summary,
    outbox_settled,
    pay_at_sandbox,
    rows,
    serve_fake,
    start_bot,
    the_payment,
)
from tests.conftest import Running


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


@pytest.fixture
async def running(aiohttp_server: Any, db_url: str, fake: FakeBotAPI) -> Running:
    return await start_bot(aiohttp_server, db_url, fake, "webhook")


async def test_a_returning_customer_orders_again_in_four_taps(
    running: Running, fake: FakeBotAPI
) -> None:
    ana = TgUser(fake, running)
    await checkout_to_summary(ana)
    await ana.tap("pay:sandbox:va:bca")
    first = await the_payment(running)
    await pay_at_sandbox(running, first.reference)
    await outbox_settled(running)
    [(code,)] = await rows(running, select(Order.code))
    await ana.say("/start")
    taps = 0
    for prefix in ("m:orders", f"again:{code}", "ck:reuse"):
        answer = await ana.tap(prefix)
        taps += 1
        if prefix == f"again:{code}":
            assert "Kirim ke Jl. Merdeka No. 1, Jakarta lagi?" in answer[-1].text
            assert "1× Kopi Susu" in answer[-1].text
    await ana.tap("pay:sandbox:va:bca")
    taps += 1
    orders = await rows(running, select(Order.code, Order.delivery).order_by(Order.id))
    assert len(orders) == 2 and taps == 4
    again, delivery = orders[1]
    assert delivery["address"] == "Jl. Merdeka No. 1, Jakarta"
    await ana.wait_text(again, "BCA")  # the instructions of the new order
    lines = await rows(running, select(OrderItem.sku, OrderItem.quantity).order_by(OrderItem.id))
    assert lines == [("KOPI-SUSU", 1), ("KOPI-SUSU", 1)]
