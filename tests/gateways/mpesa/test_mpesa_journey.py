"""M-Pesa through the whole app: a Telegram customer of a Kenyan shop pays by STK push and is
told once; a forged callback changes nothing; a lost callback is confirmed by the poller on the
USSD schedule; a prompt never answered ends expired, the customer told once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import RUNTIME
from payments.base import MethodId
from payments.ports import PaymentRow
from storage.db import transaction
from storage.models import Customer, Outbox, Payment, PaymentEvent
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    TgUser,
    outbox_settled,
    rows,
    serve_fake,
    telegram_settings,
    the_payment,
)
from tests.conftest import Running, add_customer, free_port, make_config, new_order
from tests.gateways.mpesa.fake import FakeDaraja
from tests.gateways.mpesa.harness import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSKEY,
    PHONE,
    SHORTCODE,
    fake_daraja,
)
from tests.integration.test_reconcile import Clock, eventually


@pytest.fixture
async def bot_api(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def kenyan_shop_with_mpesa(
    aiohttp_server: Any, db_url: str, fake: FakeDaraja, bot_api: FakeBotAPI | None = None
) -> tuple[Running, Clock]:
    """The whole app selling in KES, M-Pesa pointed at its fake; Telegram on the fake Bot API
    when given; the app's clock turned by hand."""
    server = await aiohttp_server(fake.app)
    telegram = telegram_settings(bot_api, "webhook") if bot_api else None
    config = make_config(db_url, free_port(), telegram=telegram)
    section = replace(
        config.payments.mpesa,
        enabled=True,
        base_url=str(server.make_url("")).rstrip("/"),
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        shortcode=SHORTCODE,
        passkey=PASSKEY,
        timeout=2,
    )
    shop = replace(config.shop, currency="KES", country="KE", timezone="Africa/Nairobi")
    payments = replace(config.payments, mpesa=section)
    config = replace(config, shop=shop, payments=payments)  # type: ignore[type-var]
    clock = Clock()
    app = create_app(config, clock=clock)
    ours = await aiohttp_server(app, port=config.server.port)
    return Running(ours, app[RUNTIME]), clock


async def to_the_summary(user: TgUser) -> None:
    """From /start to the order summary with its payment methods, sharing a Kenyan phone."""
    await user.say("/start")
    await user.tap("m:catalog")
    await user.tap("cat:coffee")
    await user.tap("add:KOPI-SUSU")
    await user.tap("co")
    await user.tap("ck:name")
    await user.share_contact(PHONE.removeprefix("+"))
    await user.say("Moi Avenue 1, Nairobi")
    await user.fake.wait_for(lambda: user.fake.message_with(user.chat_id, "pay:", user.mark))


async def test_a_telegram_customer_in_kes_pays_by_stk_push_and_is_told_once(
    aiohttp_server: Any, db_url: str, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    daraja = fake_daraja()
    running, _ = await kenyan_shop_with_mpesa(aiohttp_server, db_url, daraja, bot_api)
    wanjiru = TgUser(bot_api, running, language="en")
    await to_the_summary(wanjiru)
    [instructions, *_] = await wanjiru.tap("pay:mpesa:ussd")
    payment = await the_payment(running)
    assert payment.currency == "KES" and payment.external_id == daraja.refs[payment.reference]
    shillings = f"{payment.amount // 100:,}"  # the chat's own way of writing KES (bot/texts)
    assert "0712 345678" in instructions.text and shillings in instructions.text
    [push] = daraja.bodies
    assert push["Amount"] * 100 == payment.amount and push["PhoneNumber"] == "254712345678"
    mark = bot_api.last_seq
    daraja.pay(payment.reference)
    url = running.runtime.callback_url("mpesa")
    assert await daraja.send(http, url, payment.reference, forged=True) == 401  # no token
    for _ in range(2):  # a callback may come twice
        assert await daraja.send(http, url, payment.reference) == 200

    code = payment.reference[:6]
    told = await wanjiru.wait_text("Payment received", code, after=mark)
    assert shillings in told.text
    merchant = TgUser(bot_api, running, MERCHANT_CHAT)
    order = await merchant.wait_text(code, after=mark)
    assert "M-Pesa" in order.text  # the gateway that took the money (bot/methods.py)
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    customer = [c for c in bot_api.sent(wanjiru.chat_id, after=mark) if "received" in c.text]
    assert len(customer) == 1 and len(bot_api.sent(MERCHANT_CHAT, after=mark)) == 1


async def start_one(running: Running) -> PaymentRow:
    runtime = running.runtime
    assert runtime.sessions is not None
    customer = await add_customer(runtime.sessions, "1001")
    async with transaction(runtime.sessions) as session:
        row = await session.get(Customer, customer)
        assert row is not None
        row.phone = PHONE
    code = await new_order(runtime.uow, runtime.shop, customer)
    return await runtime.start_payment(code, MethodId.parse("mpesa:ussd"))


async def test_with_the_callback_lost_the_poller_confirms_once_on_the_ussd_schedule(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    daraja = fake_daraja()
    running, clock = await kenyan_shop_with_mpesa(aiohttp_server, db_url, daraja)
    payment = await start_one(running)
    daraja.pay(payment.reference)
    clock.advance(seconds=16)  # the USSD schedule's first check (15 s) is due

    async def paid() -> bool:
        [(status,)] = await rows(running, select(Payment.status))
        return bool(status == "paid")

    await eventually(paid)
    url = running.runtime.callback_url("mpesa")
    assert await daraja.send(http, url, payment.reference) == 200  # late: a no-op
    kinds = sorted(k for (k,) in await rows(running, select(Outbox.kind)))
    assert kinds == ["order_paid", "payment_paid"]
    events = await rows(running, select(PaymentEvent.source, PaymentEvent.outcome))
    assert ("poll", "applied") in events and ("callback", "duplicate") in events


async def test_a_prompt_never_answered_ends_expired_and_the_customer_is_told_once(
    aiohttp_server: Any, db_url: str
) -> None:
    daraja = fake_daraja()
    running, clock = await kenyan_shop_with_mpesa(aiohttp_server, db_url, daraja)
    await start_one(running)
    clock.advance(seconds=16)  # still open at Daraja: "being processed", so still pending

    async def asked() -> bool:
        return ("POST", "/mpesa/stkpushquery/v1/query") in daraja.calls

    await eventually(asked)
    [(status,)] = await rows(running, select(Payment.status))
    assert status == "pending"
    [reference] = daraja.refs
    daraja.set_status(reference, "1037")  # Daraja gives up: the phone was not reached
    clock.advance(seconds=60)

    async def expired() -> bool:
        [(status,)] = await rows(running, select(Payment.status))
        return bool(status == "expired")

    await eventually(expired)
    clock.advance(seconds=60)
    kinds = [k for (k,) in await rows(running, select(Outbox.kind)) if k != "payment_no_prompt"]
    assert kinds == ["payment_expired"]
