"""ClickPesa through the whole app in a Tanzanian shop: a Telegram customer pays TSh by USSD
push and is told once; a lost callback is confirmed by the poller on the USSD schedule; an
ignored prompt ends failed with the customer told once and offered to try again; a phone from
another country gets a clear answer; ON-HOLD tells the merchant once; one token serves all."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
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
from tests.gateways.clickpesa.fake import FakeClickPesa
from tests.gateways.clickpesa.harness import API_KEY, CHECKSUM_KEY, PHONE, tanzanian
from tests.integration.test_reconcile import Clock, eventually


@pytest.fixture
async def bot_api(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def tz_shop(
    aiohttp_server: Any, db_url: str, fake: FakeClickPesa, bot_api: FakeBotAPI | None = None
) -> tuple[Running, Clock]:
    """The whole app as a TZS shop, ClickPesa on its fake; Telegram on the fake Bot API."""
    server = await aiohttp_server(fake.app)
    telegram = telegram_settings(bot_api, "webhook") if bot_api else None
    config = make_config(db_url, free_port(), telegram=telegram)
    config = tanzanian(config, str(server.make_url("")).rstrip("/"))
    clock = Clock()
    app = create_app(config, clock=clock)
    ours = await aiohttp_server(app, port=config.server.port)
    return Running(ours, app[RUNTIME]), clock


async def to_summary(user: TgUser, phone: str = "255712345678") -> None:
    """From /start to the order summary with its payment methods, sharing the phone."""
    await user.say("/start")
    await user.tap("m:catalog")
    await user.tap("cat:coffee")
    await user.tap("add:KOPI-SUSU")
    await user.tap("co")
    await user.tap("ck:name")
    await user.share_contact(phone)
    await user.say("Mtaa wa Uhuru 1, Dar es Salaam")
    await user.fake.wait_for(lambda: user.fake.message_with(user.chat_id, "pay:", user.mark))


async def test_a_telegram_customer_pays_tsh_by_ussd_push_and_is_told_once(
    aiohttp_server: Any, db_url: str, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    clickpesa = FakeClickPesa(API_KEY, CHECKSUM_KEY)
    running, _ = await tz_shop(aiohttp_server, db_url, clickpesa, bot_api)
    neema = TgUser(bot_api, running, language="sw")
    await to_summary(neema)
    assert bot_api.message_with(neema.chat_id, "pay:clickpesa:ussd", neema.mark)
    [instructions, *_] = await neema.tap("pay:clickpesa:ussd")
    payment = await the_payment(running)
    code = payment.reference[:6]
    assert "Tumetuma ombi la malipo kwa 0712 345 678" in instructions.text
    assert code in instructions.text and "TSh 35,000" in instructions.text
    pushed = clickpesa.payment(payment.reference)
    assert (pushed["paymentPhoneNumber"], pushed["collectedAmount"]) == ("255712345678", 35_000)
    mark = bot_api.last_seq
    clickpesa.pay(payment.reference)
    url = running.runtime.callback_url("clickpesa")
    for spelling in (False, True):  # ClickPesa may deliver twice, in either spelling
        assert await clickpesa.send(http, url, payment.reference, old_spelling=spelling) == 200

    told = await neema.wait_text("Malipo yamepokelewa", code, after=mark)
    assert "TSh 35,000" in told.text
    merchant = TgUser(bot_api, running, MERCHANT_CHAT)
    order = await merchant.wait_text(code, after=mark)
    assert "ClickPesa" in order.text
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    customer = [c for c in bot_api.sent(neema.chat_id, after=mark) if "Malipo" in c.text]
    assert len(customer) == 1 and len(bot_api.sent(MERCHANT_CHAT, after=mark)) == 1
    events = await rows(running, select(PaymentEvent.source, PaymentEvent.outcome))
    assert ("callback", "applied") in events and ("callback", "duplicate") in events


async def test_a_customer_with_a_phone_from_another_country_is_told_why(
    aiohttp_server: Any, db_url: str, bot_api: FakeBotAPI
) -> None:
    clickpesa = FakeClickPesa(API_KEY, CHECKSUM_KEY)
    running, _ = await tz_shop(aiohttp_server, db_url, clickpesa, bot_api)
    budi = TgUser(bot_api, running, language="en")
    await to_summary(budi, phone="6281234567890")
    [answer, *_] = await budi.tap("pay:clickpesa:ussd")
    assert "needs a Tanzanian mobile number (like 0712 345 678)" in answer.text
    assert bot_api.message_with(budi.chat_id, "pay:clickpesa:ussd", budi.mark)  # choose again
    assert clickpesa.calls == [] and clickpesa.payments == {}


async def test_with_the_callback_lost_the_poller_confirms_once_on_the_ussd_schedule(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    clickpesa = FakeClickPesa(API_KEY, CHECKSUM_KEY)
    running, clock = await tz_shop(aiohttp_server, db_url, clickpesa)
    payment = await _starter(running)()
    clickpesa.pay(payment.reference)
    clock.advance(seconds=16)  # USSD: the first check 15 s after the push

    async def paid() -> bool:
        [(status,)] = await rows(running, select(Payment.status))
        return bool(status == "paid")

    await eventually(paid)
    url = running.runtime.callback_url("clickpesa")
    assert await clickpesa.send(http, url, payment.reference) == 200  # late: a no-op
    kinds = sorted(k for (k,) in await rows(running, select(Outbox.kind)))
    assert kinds == ["order_paid", "payment_paid"]
    events = await rows(running, select(PaymentEvent.source, PaymentEvent.outcome))
    assert ("poll", "applied") in events and ("callback", "duplicate") in events
    assert clickpesa.token_requests == 1  # create, poll and the callback's query shared one


async def test_an_ignored_prompt_ends_failed_and_the_customer_is_told_once(
    aiohttp_server: Any, db_url: str, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    clickpesa = FakeClickPesa(API_KEY, CHECKSUM_KEY)
    running, clock = await tz_shop(aiohttp_server, db_url, clickpesa, bot_api)
    juma = TgUser(bot_api, running, language="en")
    await to_summary(juma)
    await juma.tap("pay:clickpesa:ussd")
    payment = await the_payment(running)
    mark = bot_api.last_seq
    clickpesa.fail(payment.reference, "Request timed out: the customer did not respond")
    url = running.runtime.callback_url("clickpesa")
    assert await clickpesa.send(http, url, payment.reference, status="FAILED") == 200
    clock.advance(seconds=16)  # and the poller looks too: still told once
    told = await juma.wait_text("did not go through", payment.reference[:6], after=mark)
    assert "Reason: Request timed out: the customer did not respond" in told.text
    assert any(b.get("callback_data", "").startswith("repay:") for b in told.buttons)
    [(status,)] = await rows(running, select(Payment.status))
    assert status == "failed"
    await outbox_settled(running)
    failed = [c for c in bot_api.sent(juma.chat_id, after=mark) if "did not go" in c.text]
    assert len(failed) == 1


async def test_a_prompt_still_open_after_a_minute_asks_once_whether_it_arrived(
    aiohttp_server: Any, db_url: str
) -> None:
    clickpesa = FakeClickPesa(API_KEY, CHECKSUM_KEY)
    running, clock = await tz_shop(aiohttp_server, db_url, clickpesa)
    payment = await _starter(running)()  # ClickPesa keeps saying PROCESSING
    nudges = select(Outbox.kind).where(Outbox.kind == "payment_no_prompt")
    for seconds in (16, 20, 30, 15):  # checks at 16 s, 36 s, 66 s (past the minute), 81 s
        before = len(clickpesa.calls)
        clock.advance(seconds=seconds)
        await eventually(functools.partial(_later, running, clickpesa, before))
    assert len(await rows(running, nudges)) == 1
    [(status,)] = await rows(running, select(Payment.status).where(Payment.id == payment.id))
    assert status == "processing"


async def _later(running: Running, fake: FakeClickPesa, before: int) -> bool:
    """A new call at the fake; the poller is ticked here too, as the scheduler's own tick
    came late on a loaded CI machine (the lease keeps two ticks from asking twice)."""
    if len(fake.calls) > before:
        return True
    assert running.runtime.reconciler is not None
    await running.runtime.reconciler.tick()
    return len(fake.calls) > before


async def test_on_hold_keeps_the_payment_processing_and_tells_the_merchant_once(
    aiohttp_server: Any, db_url: str
) -> None:
    clickpesa = FakeClickPesa(API_KEY, CHECKSUM_KEY)
    running, _ = await tz_shop(aiohttp_server, db_url, clickpesa)
    payment = await _starter(running)()
    clickpesa.set_status(payment.reference, "ON-HOLD")
    assert running.runtime.check_status is not None
    for _ in range(2):
        await running.runtime.check_status(payment.id)
    [(status, review)] = await rows(running, select(Payment.status, Payment.needs_review))
    assert (status, review) == ("processing", True)
    alerts = await rows(running, select(Outbox.kind).where(Outbox.kind == "payment_review"))
    assert len(alerts) == 1  # the shop's one merchant chat, once


def _starter(running: Running) -> Callable[[], Awaitable[PaymentRow]]:
    async def start() -> PaymentRow:
        runtime = running.runtime
        assert runtime.sessions is not None
        customer = await add_customer(runtime.sessions, "1001")
        async with transaction(runtime.sessions) as session:
            row = await session.get(Customer, customer)
            assert row is not None
            row.phone = PHONE
        code = await new_order(runtime.uow, runtime.shop, customer)
        return await runtime.start_payment(code, MethodId.parse("clickpesa:ussd"))

    return start
