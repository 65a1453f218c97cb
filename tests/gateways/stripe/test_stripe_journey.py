"""Stripe through the whole app: a Telegram customer pays by card and is told once, however
often and in whatever order Stripe's events come; a lost webhook is confirmed by the poller;
"check status" asks Stripe now."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import RUNTIME
from payments.base import MethodId
from storage.models import Outbox, Payment, PaymentEvent
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    TgUser,
    checkout_to_summary,
    outbox_settled,
    rows,
    serve_fake,
    telegram_settings,
    the_payment,
)
from tests.conftest import Running, add_customer, free_port, make_config, new_order
from tests.gateways.stripe.fake import FakeStripe
from tests.gateways.stripe.harness import SECRET_KEY, WEBHOOK_SECRET
from tests.integration.test_reconcile import Clock, eventually


@pytest.fixture
async def bot_api(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def shop_with_stripe(
    aiohttp_server: Any, db_url: str, fake: FakeStripe, bot_api: FakeBotAPI | None = None
) -> tuple[Running, Clock]:
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")
    telegram = telegram_settings(bot_api, "webhook") if bot_api else None
    config = make_config(db_url, free_port(), telegram=telegram)
    section = replace(
        config.payments.stripe,
        enabled=True,
        api_base=fake.url,
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        timeout=2,
    )
    config = replace(config, payments=replace(config.payments, stripe=section))
    clock = Clock()
    app = create_app(config, clock=clock)
    ours = await aiohttp_server(app, port=config.server.port)
    return Running(ours, app[RUNTIME]), clock


async def test_a_telegram_customer_pays_by_card_and_is_told_once(
    aiohttp_server: Any, db_url: str, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    stripe = FakeStripe(SECRET_KEY, WEBHOOK_SECRET)
    running, _ = await shop_with_stripe(aiohttp_server, db_url, stripe, bot_api)
    ana = TgUser(bot_api, running)
    await checkout_to_summary(ana)
    offer = bot_api.message_with(ana.chat_id, "pay:stripe:link", ana.mark)
    assert offer is not None
    rows_shown = bot_api.messages[offer]["reply_markup"]["inline_keyboard"]
    labels = [button["text"] for row in rows_shown for button in row]
    assert any("Kartu (Stripe)" in label for label in labels)
    await ana.tap("pay:stripe:link")
    payment = await the_payment(running)
    assert payment.instructions is not None and payment.instructions["url"].startswith(stripe.url)
    assert stripe.session_for(payment.reference)["amount_total"] == 3_500_000  # Rp 35.000
    mark = bot_api.last_seq
    # A delayed method: "completed, unpaid" first, then "succeeded"; Stripe sends them twice
    # and out of order, the stale "completed" last.
    stripe.set_status(payment.reference, ("complete", "unpaid"))
    early = stripe.event(payment.reference, "checkout.session.completed")
    stripe.pay(payment.reference)
    succeeded = stripe.event(payment.reference, "checkout.session.async_payment_succeeded")
    url = running.runtime.callback_url("stripe")
    for body in (succeeded, succeeded, early):
        assert await stripe.post(http, url, body, stripe.signed(body)) == 200

    code = payment.reference[:6]
    told = await ana.wait_text("Pembayaran diterima", code, after=mark)
    assert "Rp 35.000" in told.text
    merchant = TgUser(bot_api, running, MERCHANT_CHAT)
    order = await merchant.wait_text(code, after=mark)
    assert "Stripe" in order.text
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    customer = [c for c in bot_api.sent(ana.chat_id, after=mark) if "Pembayaran" in c.text]
    assert len(customer) == 1
    [(status,)] = await rows(running, select(Payment.status))
    assert status == "paid"


async def test_with_the_webhook_lost_the_poller_confirms_once(
    aiohttp_server: Any, db_url: str
) -> None:
    stripe = FakeStripe(SECRET_KEY, WEBHOOK_SECRET)
    running, clock = await shop_with_stripe(aiohttp_server, db_url, stripe)
    payment = await _start(running)
    stripe.pay(payment.reference)
    clock.advance(seconds=31)

    async def paid() -> bool:
        [(status,)] = await rows(running, select(Payment.status))
        return bool(status == "paid")

    await eventually(paid)
    kinds = sorted(k for (k,) in await rows(running, select(Outbox.kind)))
    assert kinds == ["order_paid", "payment_paid"]
    assert ("poll", "applied") in await rows(
        running, select(PaymentEvent.source, PaymentEvent.outcome)
    )


async def test_check_status_asks_stripe_now(aiohttp_server: Any, db_url: str) -> None:
    stripe = FakeStripe(SECRET_KEY, WEBHOOK_SECRET)
    running, _ = await shop_with_stripe(aiohttp_server, db_url, stripe)
    payment = await _start(running)
    stripe.pay(payment.reference)
    assert running.runtime.check_status is not None
    await running.runtime.check_status(payment.id)
    [(status,)] = await rows(running, select(Payment.status))
    assert status == "paid" and stripe.retrievals == 1


async def _start(running: Running) -> Any:
    runtime = running.runtime
    assert runtime.sessions is not None
    customer = await add_customer(runtime.sessions, "1001")
    code = await new_order(runtime.uow, runtime.shop, customer)
    return await runtime.start_payment(code, MethodId.parse("stripe:link"))
