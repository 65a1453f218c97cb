"""The Telegram channel end to end: the running app, PTB over real HTTP to a fake Bot API,
the sandbox gateway, the outbox worker; in polling and in webhook mode."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.telegram.channel import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.conversation.model import State
from bot.runtime import Runtime
from storage.models import Conversation
from tests.channels.telegram.fake import TOKEN, FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    SECRET,
    TgUser,
    checkout_to_summary,
    handled,
    outbox_settled,
    pay_at_sandbox,
    rows,
    serve_fake,
    start_bot,
    telegram_settings,
    the_payment,
)
from tests.conftest import free_port, make_config

MODES = ["polling", "webhook"]
METHODS = ["sandbox:va:bca", "sandbox:qris", "sandbox:link", "sandbox:ussd"]


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
async def test_a_customer_goes_from_start_to_a_confirmed_payment(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, mode: str, method: str
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, mode)
    ana = TgUser(fake, running)
    await checkout_to_summary(ana)
    [instructions, *_] = await ana.tap(f"pay:{method}")
    payment = await the_payment(running)
    code = payment.reference[:6]
    assert code in instructions.text and "Rp 35.000" in instructions.text
    mark = fake.last_seq
    await pay_at_sandbox(running, payment.reference)

    told = await ana.wait_text("Pembayaran diterima", code, after=mark)
    assert "Rp 35.000" in told.text
    merchant = TgUser(fake, running, MERCHANT_CHAT)
    order = await merchant.wait_text(code, after=mark)
    assert "Kopi Susu" in order.text and "+6281234567890" in order.text
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    if mode == "webhook":
        assert "getUpdates" not in fake.methods() and set(fake.webhook_answers) == {200}


@pytest.mark.parametrize("mode", MODES)
async def test_a_tap_is_answered_once_in_the_webhook_reply_or_by_its_own_call(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, mode: str
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, mode)
    ana = TgUser(fake, running)
    await ana.say("/start")
    mark = fake.last_seq
    await ana.tap("m:catalog")
    await fake.wait_for(lambda: "answerCallbackQuery" in fake.methods()[mark:])
    await handled(running, 2)
    acks = [c for c in fake.calls[mark:] if c.method == "answerCallbackQuery"]
    assert len(acks) == 1 and acks[0].status == 200
    assert acks[0].via_webhook_reply is (mode == "webhook")


async def test_duplicated_gateway_callbacks_tell_the_customer_and_the_merchant_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook", duplicate_share=1.0)
    ana = TgUser(fake, running)
    await checkout_to_summary(ana)
    await ana.tap("pay:sandbox:va:bca")
    payment = await the_payment(running)
    mark = fake.last_seq
    await pay_at_sandbox(running, payment.reference)
    assert running.runtime.sandbox is not None
    assert len(running.runtime.sandbox.sent_callbacks) == 2
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    told = [c for c in fake.sent(ana.chat_id, after=mark) if "Pembayaran diterima" in c.text]
    merchant = fake.sent(MERCHANT_CHAT, after=mark)
    assert len(told) == 1 and len(merchant) == 1


async def test_a_redelivered_webhook_update_is_answered_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    ana = TgUser(fake, running)
    await ana.say("/start")
    tap = fake.tap_update(ana.chat_id, "add:KOPI-SUSU")
    await fake.push(tap, update_id=4242)
    await handled(running, fake.pushed)
    mark = fake.last_seq
    await fake.push(tap, update_id=4242)  # Telegram did not see our 200 in time
    await handled(running, fake.pushed)
    assert fake.sent(ana.chat_id, after=mark) == []
    [(state,)] = await rows(running, select(Conversation.state))
    assert State.from_json(state).cart == (("KOPI-SUSU", 1),)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, b'{"update_id": 1}', 403),
        ({SECRET_HEADER: "wrong"}, b'{"update_id": 1}', 403),
        ({SECRET_HEADER: SECRET + "x"}, b'{"update_id": 1}', 403),
        ({SECRET_HEADER: "ünïcode"}, b'{"update_id": 1}', 403),
        ({SECRET_HEADER: SECRET}, b"not json", 200),
        ({SECRET_HEADER: SECRET}, b"[1, 2]", 200),
        ({SECRET_HEADER: SECRET}, b"[" * 100_000, 200),
        ({SECRET_HEADER: SECRET}, b'{"update_id": 1, "message": 5}', 200),
        ({SECRET_HEADER: SECRET}, b'{"update_id": 7}', 200),
    ],
)
async def test_the_webhook_takes_only_updates_with_our_secret(
    aiohttp_server: Any,
    db_url: str,
    fake: FakeBotAPI,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    async with http.post(running.url(WEBHOOK_PATH), data=body, headers=headers) as resp:
        assert resp.status == status


async def test_in_polling_mode_the_webhook_route_refuses_everything(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "polling")
    headers = {SECRET_HEADER: SECRET}
    async with http.post(running.url(WEBHOOK_PATH), data=b"{}", headers=headers) as resp:
        assert resp.status == 403
    await fake.wait_for(lambda: "getUpdates" in fake.methods())
    assert fake.methods()[:3] == ["getMe", "deleteWebhook", "getUpdates"]


async def test_the_bot_token_never_reaches_the_logs(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("sendMessage", 502, "Bad Gateway")  # an error on the way, logged with its cause
    running = await start_bot(aiohttp_server, db_url, fake, "polling")
    ana = TgUser(fake, running)
    await ana.say("/start")
    await ana.say("/help")
    assert fake.sent(ana.chat_id)
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


async def test_a_wrong_token_stops_the_start_with_an_error_that_does_not_show_it(
    db_url: str, fake: FakeBotAPI
) -> None:
    fake.token = "7000000001:another-token"
    config = make_config(db_url, free_port(), telegram=telegram_settings(fake, "polling"))
    channel = TelegramChannel(Runtime(config))
    with pytest.raises(RuntimeError, match=r"cannot start the bot: telegram\.token") as failed:
        await channel.start()
    assert TOKEN not in str(failed.value) and channel.ptb is None
