"""Odd things customers do in Telegram, each answered helpfully, with nothing lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.conversation.model import State
from storage.models import Conversation, Customer, Order, Payment
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    TgUser,
    checkout_to_summary,
    handled,
    rows,
    serve_fake,
    start_bot,
)

MENU = ["m:catalog", "m:cart", "m:orders", "m:help"]


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


@pytest.fixture
async def ana(aiohttp_server: Any, db_url: str, fake: FakeBotAPI) -> TgUser:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    user = TgUser(fake, running)
    await user.say("/start")
    return user


def data(call: Any) -> list[str]:
    return [str(b.get("callback_data")) for b in call.buttons if b.get("callback_data")]


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("🤔🍕🙏", "kurang paham"),
        ("x" * 5000, "panjang"),
        ("0 kopi susu", "1 sampai 99"),
        ("100 kopi susu", "1 sampai 99"),
        ("-1 kopi susu", "1 sampai 99"),
        ("/foo", "tidak saya kenal"),
    ],
)
async def test_odd_text_gets_a_helpful_answer_with_the_menu(
    ana: TgUser, said: str, answer: str
) -> None:
    [reply] = await ana.say(said)
    assert answer in reply.text and data(reply) == MENU
    assert len(reply.text) < 4096


async def test_a_quantity_change_edits_the_cart_message(ana: TgUser, fake: FakeBotAPI) -> None:
    await ana.say("2 kopi susu")
    [cart] = await ana.tap("ft:yes")
    cart_id = fake.message_with(ana.chat_id, "inc:")
    assert cart_id is not None
    [more] = await ana.tap("inc:")
    assert more.method == "editMessageText" and more.params["message_id"] == cart_id[1]
    assert "3× Kopi Susu" in more.text
    [less] = await ana.tap("dec:")
    assert less.method == "editMessageText" and "2× Kopi Susu" in less.text
    assert cart.method == "sendMessage"


async def test_the_cart_never_holds_less_than_one_or_more_than_99(ana: TgUser) -> None:
    await ana.say("99 kopi susu")
    await ana.tap("ft:yes")
    [capped] = await ana.tap("inc:")
    assert "99× Kopi Susu" in capped.text
    await ana.say("1 teh tarik")
    await ana.tap("ft:yes")
    await ana.tap("line:TEH-TARIK")
    [gone] = await ana.tap("dec:TEH-TARIK")
    assert "Teh Tarik" not in gone.text and "99× Kopi Susu" in gone.text


async def test_a_stale_or_unknown_button_gets_a_fresh_menu(ana: TgUser) -> None:
    [menu] = await ana.tap_data("zz:not-a-button")
    assert data(menu) == MENU
    [again] = await ana.tap_data("cxly:ZZZZZZ")  # someone else's, or no order at all
    assert data(again) == MENU


async def test_a_tap_on_a_message_that_is_gone_still_gets_its_answer(
    ana: TgUser, fake: FakeBotAPI
) -> None:
    await ana.say("2 kopi susu")
    await ana.tap("ft:yes")
    [cart] = await ana.tap_data("inc:KOPI-SUSU", message_id=999_999)  # deleted or too old
    assert cart.method == "sendMessage" and "3× Kopi Susu" in cart.text


async def test_pay_tapped_twice_quickly_makes_one_payment(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    ana = TgUser(fake, running)
    await checkout_to_summary(ana)
    key = fake.message_with(ana.chat_id, "pay:sandbox:va:bca")
    assert key is not None
    mark = fake.last_seq
    await asyncio.gather(
        fake.tap(ana.chat_id, "pay:sandbox:va:bca", key[1]),
        fake.tap(ana.chat_id, "pay:sandbox:va:bca", key[1]),
    )
    await fake.wait_for(
        lambda: (
            fake.methods()[mark:].count("answerCallbackQuery") == 2
            and len(fake.sent(ana.chat_id, after=mark)) >= 2
        )
    )
    assert await rows(running, select(func.count()).select_from(Order)) == [(1,)]
    assert await rows(running, select(func.count()).select_from(Payment)) == [(1,)]
    [(reference,)] = await rows(running, select(Payment.reference))
    answers = fake.sent(ana.chat_id, after=mark)
    assert any(reference in c.text or reference[:6] in c.text for c in answers)


async def test_a_shared_contact_fills_the_phone_and_the_button_goes_away(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "polling")
    ana = TgUser(fake, running)
    await ana.say("/start")
    for step in ("m:catalog", "cat:coffee", "add:KOPI-SUSU", "co"):
        await ana.tap(step)
    [question] = await ana.tap("ck:name")
    assert question.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    [where, *_] = await ana.share_contact("6281234567890")
    assert where.params["reply_markup"] == {"remove_keyboard": True}
    await ana.say("Jl. Merdeka No. 1, Jakarta")
    await ana.tap("pay:sandbox:va:bca")
    [(phone,)] = await rows(running, select(Customer.phone))
    assert phone == "+6281234567890"
    removed = [c for c in fake.sent(ana.chat_id) if "remove_keyboard" in str(c.params)]
    assert len(removed) == 1


async def test_someone_elses_contact_is_not_taken_as_the_phone(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    ana = TgUser(fake, running)
    await ana.say("/start")
    for step in ("m:catalog", "cat:coffee", "add:KOPI-SUSU", "co", "ck:name"):
        await ana.tap(step)
    [again, *_] = await ana.share_contact("6289999999999", user_id=424242)
    assert "keyboard" in again.params["reply_markup"]  # asked again, with the button
    [(state,)] = await rows(running, select(Conversation.state))
    assert State.from_json(state).stage == "ask_phone" and State.from_json(state).phone == ""
    await ana.say("0812 3456 7890")  # typing works too
    [(state,)] = await rows(running, select(Conversation.state))
    assert State.from_json(state).phone == "+6281234567890"


async def test_a_failing_reply_is_tried_again_and_arrives(ana: TgUser, fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", 502, "Bad Gateway", chat_id=ana.chat_id)
    [reply] = await ana.say("/help")
    assert reply.status == 200 and data(reply)


async def test_a_reply_told_to_wait_waits_and_arrives(ana: TgUser, fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", 429, retry_after=0.1, chat_id=ana.chat_id)
    [reply] = await ana.say("/help")
    assert reply.status == 200 and data(reply)
    refused = [c for c in fake.calls if c.method == "sendMessage" and c.status == 429]
    assert len(refused) == 1


async def test_a_refused_edit_becomes_a_new_message(ana: TgUser, fake: FakeBotAPI) -> None:
    await ana.say("/start")
    fake.fail("editMessageText", 400, "Bad Request: message can't be edited", chat_id=ana.chat_id)
    [shown] = await ana.tap("m:catalog")
    assert shown.method == "sendMessage" and shown.status == 200 and data(shown)


async def test_merchant_commands_are_refused_politely_to_customers(ana: TgUser) -> None:
    for command in ("/ship ABC123 JNE1", "/stats", "/export", "/order ABC123"):
        [reply] = await ana.say(command)
        assert "hanya untuk staf toko" in reply.text and data(reply) == MENU
    [mine] = await ana.say("/orders")  # the customer's own orders, not a refusal
    assert "staf" not in mine.text and "belum punya pesanan" in mine.text


# Updates PTB's de_json accepts although no Telegram client sends them: de_json checks no types.
ODD_BUT_READABLE = {
    "a list for a text": {"text": ["/start"]},
    "a dict for a name and a list for a language": {
        "text": "hi",
        "from": {"id": 5550002, "is_bot": False, "first_name": {"a": 1}, "language_code": [1]},
    },
    "a number for a phone": {"contact": {"phone_number": 62812, "first_name": "A", "user_id": 1}},
    "a number for a caption": {"caption": 10**300},
}


@pytest.mark.parametrize("content", ODD_BUT_READABLE.values(), ids=ODD_BUT_READABLE.keys())
async def test_an_update_with_odd_field_types_still_gets_an_answer(
    aiohttp_server: Any,
    db_url: str,
    fake: FakeBotAPI,
    content: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await start_bot(aiohttp_server, db_url, fake, "webhook")
    chat = 5550002
    message = {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"}}
    message["from"] = {"id": chat, "is_bot": False, "first_name": "Ana"}
    await fake.push({"message": message | content})
    await fake.wait_for(lambda: fake.sent(chat))
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize(
    "update",
    [
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 10**40, "type": "private"}}},
        {
            "callback_query": {
                "id": "1",
                "from": {"id": 5, "is_bot": False, "first_name": "A"},
                "chat_instance": "x",
                "data": {"not": "text"},
            }
        },
        {"message": {"message_id": 1, "date": 0, "chat": {"id": True, "type": "private"}}},
    ],
    ids=["a chat id beyond 64 bits", "a dict for a button's data", "true for a chat id"],
)
async def test_an_update_nobody_can_be_answered_for_is_let_go_quietly(
    aiohttp_server: Any,
    db_url: str,
    fake: FakeBotAPI,
    update: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    await fake.push(update)
    await fake.push({"message": fake._message_from(5550003, {}, text="/start")})
    await handled(running, 2)
    await fake.wait_for(lambda: fake.sent(5550003))  # the next customer is served as usual
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    assert fake.sent(10**40) == []
