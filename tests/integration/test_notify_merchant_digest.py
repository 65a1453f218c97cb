"""Merchants read bursts, not floods (bot/notify/worker.py): paid-order notices queued for one
merchant chat go out as one message listing the orders with the sum, within Telegram's 4,096
characters; the fake Bot API counts the messages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot import texts
from payments.ports import Recipient
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import MERCHANT_CHAT, outbox_settled, serve_fake, start_bot
from tests.conftest import Running

LIMIT = 4096


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


def code(n: int) -> str:
    return f"P{n:05d}"


async def queue_paid_notices(running: Running, count: int) -> int:
    """`count` merchant notices written at once, as a burst of callbacks leaves them."""
    total = 0
    async with running.runtime.uow() as store:
        for n in range(count):
            amount = 25_000 + 1_000 * n
            total += amount
            payload = {
                "order_code": code(n),
                "payment_id": n + 1,
                "reference": f"{code(n)}-1",
                "amount": amount,
                "currency": "IDR",
                "method": "sandbox:va:bca",
            }
            to = Recipient("telegram", str(MERCHANT_CHAT))
            await store.outbox.enqueue(to, "order_paid", payload, f"test:paid:{n}")
    return total


def listed(text: str) -> list[str]:
    return re.findall(r"P\d{5}", text)


async def test_fifty_queued_paid_orders_reach_the_merchant_as_one_message_with_the_sum(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    total = await queue_paid_notices(running, 50)
    assert await outbox_settled(running, within=30) == [("order_paid", "sent")] * 50
    [message] = fake.sent(MERCHANT_CHAT)
    assert len(message.text) <= LIMIT
    assert listed(message.text) == [code(n) for n in range(50)]
    assert message.text.startswith("Pesanan baru lunas: 50")  # the shop's first language
    assert f"Total: {texts.format_money(total, 'IDR', 'id', 'ID')}" in message.text


async def test_more_than_one_message_holds_are_split_within_the_length_limit(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    await queue_paid_notices(running, 300)
    assert await outbox_settled(running, within=60) == [("order_paid", "sent")] * 300
    messages = fake.sent(MERCHANT_CHAT)
    assert all(len(m.text) <= LIMIT for m in messages)
    codes = [c for m in messages for c in listed(m.text)]
    assert sorted(codes) == [code(n) for n in range(300)]  # each order once
    assert 2 <= len(messages) <= 10


async def test_a_single_paid_order_still_reads_as_the_full_notice(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    await queue_paid_notices(running, 1)
    assert await outbox_settled(running) == [("order_paid", "sent")]
    [message] = fake.sent(MERCHANT_CHAT)
    assert message.text.startswith(f"Pesanan baru lunas {code(0)}")
