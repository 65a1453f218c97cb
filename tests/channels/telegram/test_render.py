"""Telegram's side of replies and updates, without a network: HTML, splitting, keyboards."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from bot.channels.telegram.inbound import e164, to_inbound
from bot.channels.telegram.render import inline_keyboard, split_text, to_html
from bot.conversation.replies import Choice, LinkButton, Reply


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*Total*: Rp 5.000", "<b>Total</b>: Rp 5.000"),
        ("VA `8860 1234` <b>", "VA <code>8860 1234</code> &lt;b&gt;"),
        ("`a*b*c` and *x*", "<code>a*b*c</code> and <b>x</b>"),
        ("Tom & Jerry's *", "Tom &amp; Jerry's *"),
        ("*across\nlines*", "*across\nlines*"),
    ],
)
def test_our_marks_become_html_and_everything_else_is_escaped(text: str, html: str) -> None:
    assert to_html(text) == html


def test_long_text_is_split_at_line_breaks_within_the_limit() -> None:
    lines = [f"line {n} " + "x" * 90 for n in range(100)]
    pieces = split_text("\n".join(lines), limit=1000)
    assert all(len(p) <= 1000 for p in pieces)
    assert "\n".join(pieces) == "\n".join(lines)
    assert split_text("y" * 2500, limit=1000) == ["y" * 1000, "y" * 1000, "y" * 500]
    assert split_text("") == ["…"]


def test_up_to_three_choices_share_a_row_and_more_get_one_each() -> None:
    few = Reply("x", tuple(Choice(f"c:{n}", f"C{n}") for n in range(3)))
    many = Reply(
        "x", tuple(Choice(f"c:{n}", f"C{n}") for n in range(4)), LinkButton("Pay", "https://p")
    )
    assert [len(row) for row in inline_keyboard(few).inline_keyboard] == [3]  # type: ignore[union-attr]
    rows = inline_keyboard(many).inline_keyboard  # type: ignore[union-attr]
    assert [len(row) for row in rows] == [1, 1, 1, 1, 1] and rows[0][0].url == "https://p"
    assert inline_keyboard(Reply("x")) is None


def update(payload: dict[str, Any]) -> Update:
    return Update.de_json({"update_id": 42, **payload}, None)  # type: ignore[arg-type]


USER = {"id": 5, "is_bot": False, "first_name": "Ana", "last_name": "B", "language_code": "sw"}
CHAT = {"id": 5, "type": "private"}


def message(**content: Any) -> dict[str, Any]:
    return {"message": {"message_id": 1, "date": 1, "chat": CHAT, "from": USER, **content}}


def test_commands_with_arguments_and_a_bot_name_are_read() -> None:
    inbound = to_inbound(update(message(text="/Orders@Shop_Bot paid now")), "shop_bot")
    assert inbound is not None
    assert (inbound.kind, inbound.command, inbound.text) == ("command", "orders", "paid now")
    assert (inbound.name, inbound.language_hint, inbound.event_id) == ("Ana B", "sw", "42")
    other_bot = to_inbound(update(message(text="/start@other_bot")), "shop_bot")
    assert other_bot is None


def test_only_the_senders_own_contact_is_a_phone_number() -> None:
    own = to_inbound(update(message(contact={"phone_number": "62812", "first_name": "A",
                                             "user_id": 5})))  # fmt: skip
    assert own is not None and (own.kind, own.phone) == ("phone", "+62812")
    card = to_inbound(update(message(contact={"phone_number": "62899", "first_name": "B",
                                              "user_id": 6})))  # fmt: skip
    assert card is not None and (card.kind, card.text, card.phone) == ("text", "", "")


def test_a_tap_an_edit_and_a_sticker() -> None:
    query = {"id": "q", "from": USER, "chat_instance": "c", "data": "add:KOPI",
             "message": {"message_id": 9, "date": 1, "chat": CHAT}}  # fmt: skip
    tap = to_inbound(update({"callback_query": query}))
    assert tap is not None and (tap.kind, tap.choice_id) == ("tap", "add:KOPI")
    edited = {"edited_message": {"message_id": 1, "date": 1, "chat": CHAT, "text": "x"}}
    assert to_inbound(update(edited)) is None
    sticker = to_inbound(update(message()))
    assert sticker is not None and (sticker.kind, sticker.text) == ("text", "")


def test_phone_numbers_from_contacts_get_their_plus() -> None:
    assert e164("6281234567890") == "+6281234567890"
    assert e164("+255 712 345 678") == "+255712345678"
    assert e164("") == ""
