"""Typed orders: "2 kopi susu, 1 roti bakar", with typos, English names and number words."""

from __future__ import annotations

import pytest

from bot.conversation.parse import claims_paid, is_greeting, parse_order
from tests.unit.flowkit import Chat, demo_ctx

ITEMS = demo_ctx().items


def read(text: str) -> list[tuple[int, str]]:
    return [(w.quantity, w.sku) for w in parse_order(text, ITEMS)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 kopi susu, 1 roti bakar", [(2, "KOPI-SUSU"), (1, "ROTI-BAKAR")]),
        ("kopi susu 2", [(2, "KOPI-SUSU")]),
        ("dua kopi susu", [(2, "KOPI-SUSU")]),
        ("3x teh tarik", [(3, "TEH-TARIK")]),
        ("teh tarik x3", [(3, "TEH-TARIK")]),
        ("kopi suus 2", [(2, "KOPI-SUSU")]),  # typo
        ("2 kopisusu", [(2, "KOPI-SUSU")]),
        ("roti bakr", [(1, "ROTI-BAKAR")]),
        ("2 milk coffee and a toast", [(2, "KOPI-SUSU"), (1, "ROTI-BAKAR")]),  # English
        ("black cofee", [(1, "KOPI-HITAM")]),
        ("mbili kahawa ya maziwa", [(2, "KOPI-SUSU")]),  # Swahili
        ("kopi susu dan nasi goreng", [(1, "KOPI-SUSU"), (1, "NASI-GORENG")]),
        ("1 biji kopi toraja", [(1, "BIJI-TORAJA-250")]),
        ("nasi", [(1, "NASI-GORENG")]),
    ],
)
def test_typed_orders_find_the_products(text: str, expected: list[tuple[int, str]]) -> None:
    assert read(text) == expected


def test_an_ambiguous_name_is_not_guessed_but_offers_candidates() -> None:
    [wanted] = parse_order("kopi", ITEMS)
    assert wanted.sku == "" and {"KOPI-SUSU", "KOPI-HITAM"} <= set(wanted.candidates)


@pytest.mark.parametrize("text", ["pizza", "hello there", "😀😀", "???"])
def test_unknown_words_match_nothing(text: str) -> None:
    assert all(w.sku == "" for w in parse_order(text, ITEMS))


def test_a_very_long_message_is_not_read_as_an_order() -> None:
    assert parse_order("kopi susu " * 500, ITEMS) == ()


@pytest.mark.parametrize("text", ["sudah bayar", "Udah transfer ya kak", "I paid!", "Nimelipa"])
def test_paid_claims(text: str) -> None:
    assert claims_paid(text) and not is_greeting(text)


def test_a_typed_order_is_confirmed_before_it_touches_the_cart() -> None:
    chat = Chat()
    [ask] = chat.text("2 kopi suus, 1 roti bakr")
    assert ask.text == "Tambahkan 2× Kopi Susu, 1× Roti Bakar ke keranjang?"
    assert [c.id for c in ask.choices] == ["ft:yes", "ft:no"] and chat.state.cart == ()
    chat.tap("ft:yes")
    assert chat.state.cart == (("KOPI-SUSU", 2), ("ROTI-BAKAR", 1))


def test_no_keeps_the_cart_as_it_was_and_ya_means_yes() -> None:
    chat = Chat()
    chat.text("1 teh tarik")
    chat.tap("ft:no")
    assert chat.state.cart == () and chat.state.pending == ()
    chat.text("1 teh tarik")
    chat.text("ya")
    assert chat.state.cart == (("TEH-TARIK", 1),)


def test_an_english_customer_gets_the_confirmation_in_english() -> None:
    chat = Chat()
    chat.command("language", "en")
    [ask] = chat.text("2 milk coffee")
    assert ask.text == "Add 2× Milk Coffee to your cart?"


def test_unknown_and_ambiguous_parts_are_answered_helpfully() -> None:
    chat = Chat()
    [ask] = chat.text("2 kopi susu, pizza, kopi")
    assert "“pizza”" in ask.text and "Kopi Hitam" in ask.text  # which kopi?
    assert chat.state.pending == (("KOPI-SUSU", 2),)
    [suggest] = chat.text("kopi")
    assert {"add:KOPI-SUSU", "add:KOPI-HITAM"} <= {c.id for c in suggest.choices}
    [sorry] = chat.text("pizza")
    assert "pizza" in sorry.text and "misalnya" in sorry.text  # and an example of what works
