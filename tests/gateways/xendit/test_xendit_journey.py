"""Xendit through the whole app: a Telegram customer pays by BCA VA and is told once; a lost
callback is confirmed by the poller; "check status" asks now; cancel expires at Xendit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import RUNTIME
from payments.base import MethodId
from payments.ports import PaymentRow
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
from tests.gateways.xendit.fake import FakeXendit
from tests.gateways.xendit.harness import CALLBACK_TOKEN, SECRET_KEY
from tests.integration.test_reconcile import Clock, eventually


@pytest.fixture
async def bot_api(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def shop_with_xendit(
    aiohttp_server: Any,
    db_url: str,
    fake: FakeXendit,
    bot_api: FakeBotAPI | None = None,
    **kw: Any,
) -> tuple[Running, Clock]:
    """The whole app, Xendit pointed at its fake; Telegram on the fake Bot API when given."""
    server = await aiohttp_server(fake.app)
    telegram = telegram_settings(bot_api, "webhook") if bot_api else None
    config = make_config(db_url, free_port(), telegram=telegram)
    section = replace(
        config.payments.xendit,
        enabled=True,
        base_url=str(server.make_url("")).rstrip("/"),
        secret_key=SECRET_KEY,
        callback_token=CALLBACK_TOKEN,
        timeout=2,
    )
    config = replace(config, payments=replace(config.payments, xendit=section), **kw)  # type: ignore[type-var]
    clock = Clock()
    app = create_app(config, clock=clock)
    ours = await aiohttp_server(app, port=config.server.port)
    return Running(ours, app[RUNTIME]), clock


async def test_a_telegram_customer_pays_by_bca_va_and_is_told_once(
    aiohttp_server: Any, db_url: str, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    xendit = FakeXendit(SECRET_KEY, CALLBACK_TOKEN)
    running, _ = await shop_with_xendit(aiohttp_server, db_url, xendit, bot_api)
    ana = TgUser(bot_api, running)
    await checkout_to_summary(ana)
    assert bot_api.message_with(ana.chat_id, "pay:xendit:va:bca", ana.mark)
    [instructions, *_] = await ana.tap("pay:xendit:va:bca")
    payment = await the_payment(running)
    assert payment.instructions is not None
    code, number = payment.reference[:6], payment.instructions["number"]
    assert code in instructions.text and number in instructions.text
    assert "BCA" in instructions.text and "Rp 35.000" in instructions.text
    mark = bot_api.last_seq
    xendit.pay(payment.reference)
    url = running.runtime.callback_url("xendit")
    for _ in range(2):  # Xendit may deliver a callback more than once
        assert await xendit.send(http, url, payment.reference) == 200

    told = await ana.wait_text("Pembayaran diterima", code, after=mark)
    assert "Rp 35.000" in told.text and "BCA" in told.text
    merchant = TgUser(bot_api, running, MERCHANT_CHAT)
    order = await merchant.wait_text(code, after=mark)
    assert "Xendit" in order.text and "BCA" in order.text  # the gateway and the method
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    customer = [c for c in bot_api.sent(ana.chat_id, after=mark) if "Pembayaran" in c.text]
    assert len(customer) == 1 and len(bot_api.sent(MERCHANT_CHAT, after=mark)) == 1


@pytest.mark.parametrize("method", ["xendit:va:bca", "xendit:qris", "xendit:link"])
async def test_with_the_callback_lost_the_poller_confirms_once(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, method: str
) -> None:
    xendit = FakeXendit(SECRET_KEY, CALLBACK_TOKEN)
    running, clock = await shop_with_xendit(aiohttp_server, db_url, xendit)
    payment = await _starter(running)(method)
    xendit.pay(payment.reference)
    clock.advance(seconds=31)  # the first check is due; the scheduler's next tick takes it

    async def paid() -> bool:
        [(status,)] = await rows(running, select(Payment.status))
        return bool(status == "paid")

    await eventually(paid)
    url = running.runtime.callback_url("xendit")
    assert await xendit.send(http, url, payment.reference) == 200  # late: a no-op
    kinds = sorted(k for (k,) in await rows(running, select(Outbox.kind)))
    assert kinds == ["order_paid", "payment_paid"]
    events = await rows(running, select(PaymentEvent.source, PaymentEvent.outcome))
    assert ("poll", "applied") in events and ("callback", "duplicate") in events


async def test_changing_method_expires_the_old_va_at_xendit(
    aiohttp_server: Any, db_url: str
) -> None:
    xendit = FakeXendit(SECRET_KEY, CALLBACK_TOKEN)
    running, _ = await shop_with_xendit(aiohttp_server, db_url, xendit)
    first = await _starter(running)("xendit:va:bca")
    again = await running.runtime.start_payment(first.reference[:6], MethodId.parse("xendit:qris"))
    assert xendit.object(first.reference)["status"] == "EXPIRED"
    assert xendit.object(again.reference)["status"] == "PENDING"
    statuses = dict(await rows(running, select(Payment.reference, Payment.status)))
    assert statuses == {first.reference: "cancelled", again.reference: "pending"}


async def test_check_status_asks_xendit_now(aiohttp_server: Any, db_url: str) -> None:
    xendit = FakeXendit(SECRET_KEY, CALLBACK_TOKEN)
    running, _ = await shop_with_xendit(aiohttp_server, db_url, xendit)
    payment = await _starter(running)("xendit:qris")
    xendit.pay(payment.reference)
    assert running.runtime.check_status is not None
    await running.runtime.check_status(payment.id)
    [(status,)] = await rows(running, select(Payment.status))
    assert status == "paid"
    assert ("GET", f"/payment_requests/{payment.external_id}") in xendit.calls


def _starter(running: Running) -> Callable[[str], Awaitable[PaymentRow]]:
    async def start(method: str) -> PaymentRow:
        runtime = running.runtime
        assert runtime.sessions is not None
        customer = await add_customer(runtime.sessions, "1001")
        code = await new_order(runtime.uow, runtime.shop, customer)
        return await runtime.start_payment(code, MethodId.parse(method))

    return start
