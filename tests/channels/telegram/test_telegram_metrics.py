"""/metrics counts what the Telegram channel did: each update that reached the dispatcher
(bot/dispatch/answer.py) and each outbox send that failed (bot/notify/worker.py)."""

from __future__ import annotations

from typing import Any

import pytest

from payments.base import MethodId
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    TgUser,
    outbox_settled,
    pay_at_sandbox,
    serve_fake,
    start_bot,
)
from tests.conftest import add_customer, new_order, scrape

CHATTING, CUSTOMER = 5550001, 5550002


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def test_updates_and_failed_outbox_sends_are_counted_by_channel(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    user = TgUser(fake, running, chat_id=CHATTING)
    await user.say("/start")
    await user.say("halo")
    fake.block(CUSTOMER)  # the customer's payment notice fails: 403, given up
    runtime = running.runtime
    assert runtime.sessions is not None
    customer = await add_customer(runtime.sessions, str(CUSTOMER))
    code = await new_order(runtime.uow, runtime.shop, customer)
    payment = await runtime.start_payment(code, MethodId.parse("sandbox:va:bca"))
    await pay_at_sandbox(running, payment.reference)
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "failed")]

    samples = await scrape(running)
    telegram = (("channel", "telegram"),)
    assert samples[("checkout_chat_updates_total", telegram)] == 2
    assert samples[("checkout_outbox_send_failures_total", telegram)] == 1
