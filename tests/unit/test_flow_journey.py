"""The customer journey through `flow.step`, pure: greeting to payment instructions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.conversation.ctx import Profile
from bot.conversation.model import (
    CancelOrder,
    CheckStatus,
    LoadOrders,
    PlaceOrder,
    SaveLanguage,
    StartPayment,
    State,
)
from tests.unit.flowkit import Chat, all_text, demo_ctx


def checkout_to_summary(chat: Chat) -> None:
    chat.command("start")
    chat.tap("m:catalog")
    chat.tap("cat:coffee")
    chat.tap("add:KOPI-SUSU")
    chat.tap("co")
    chat.tap("ck:name")
    chat.text("0812 3456 7890")
    chat.text("Jl. Merdeka No. 1, Jakarta")


@pytest.mark.parametrize("method", ["va:bca", "qris", "link", "ussd"])
def test_a_one_item_order_reaches_payment_instructions_in_at_most_six_taps(method: str) -> None:
    chat = Chat()
    checkout_to_summary(chat)
    replies = chat.tap(f"pay:sandbox:{method}")
    assert chat.taps <= 6, chat.taps
    assert chat.state.stage == "paying" and chat.state.order_code == "A7K2Q9"
    [instructions] = replies
    assert "A7K2Q9" in instructions.text and "Rp 35.000" in instructions.text
    assert [c.id for c in instructions.choices] == ["chk:7", "chg:A7K2Q9", "cxl:A7K2Q9"]


def test_va_instructions_show_bank_number_in_monospace_amount_and_local_expiry() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    [reply] = chat.tap("pay:sandbox:va:bca")
    assert "BCA" in reply.text and "`8860812345678901`" in reply.text
    assert "Rp 35.000" in reply.text and "23 Nov, 10:00 WIB" in reply.text  # 03:00 UTC + 24 h


def test_qris_instructions_carry_the_code_as_a_png() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    [reply] = chat.tap("pay:sandbox:qris")
    assert reply.image is not None and reply.image.data is not None
    assert reply.image.data.startswith(b"\x89PNG") and reply.image.qr_payload
    assert "Rp 35.000" in reply.text and "WIB" in reply.text


def test_link_instructions_are_a_button_and_change_method_leads_to_ussd() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    [link] = chat.tap("pay:sandbox:link")
    assert link.link is not None and link.link.url.startswith("https://")
    [methods] = chat.tap("chg:A7K2Q9")
    assert chat.state.stage == "methods" and "A7K2Q9" in methods.text
    [ussd] = chat.tap("pay:sandbox:ussd")
    assert "+6281234567890" in ussd.text and chat.state.stage == "paying"
    assert chat.effects[-1] == StartPayment("A7K2Q9", "sandbox:ussd")


def test_the_summary_shows_items_shipping_total_and_the_methods_that_fit() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    summary = chat.replies[-1]
    assert chat.state.stage == "summary"
    for part in ("1× Kopi Susu", "Rp 25.000", "Ongkir: Rp 10.000", "Total: Rp 35.000"):
        assert part in summary.text
    assert "+6281234567890" in summary.text and "Jl. Merdeka" in summary.text
    labels = [c.label for c in summary.choices]
    assert labels[:4] == [
        "Virtual Account BCA",
        "QRIS",
        "Link pembayaran",
        "Bayar via HP (USSD)",
    ]


def test_tapping_a_method_places_the_order_with_what_the_customer_gave() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.text("tanpa gula ya")  # a note, typed at the summary
    chat.tap("pay:sandbox:va:bca")
    place = next(e for e in chat.effects if isinstance(e, PlaceOrder))
    assert place == PlaceOrder(
        cart=(("KOPI-SUSU", 1),),
        name="Siti",
        phone="+6281234567890",
        delivery="delivery",
        address="Jl. Merdeka No. 1, Jakarta",
        note="tanpa gula ya",
    )
    assert StartPayment("A7K2Q9", "sandbox:va:bca") in chat.effects
    assert chat.state.cart == ()  # the cart became the order


def test_pickup_is_free_and_offered_only_when_the_shop_allows_it() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.tap("ck:edit")
    chat.tap("ck:name")
    chat.text("+62 812-3456-7890")
    chat.tap("ck:pickup")
    assert "Ongkir: Rp 0" in chat.replies[-1].text and "Total: Rp 25.000" in chat.replies[-1].text
    no_pickup = Chat(ctx=replace(demo_ctx(), shop=replace(demo_ctx().shop, pickup=False)))
    checkout_to_summary(no_pickup)
    no_pickup.tap("ck:edit")
    no_pickup.tap("ck:name")
    replies = no_pickup.text("081234567890")
    assert not any(c.id == "ck:pickup" for r in replies for c in r.choices)


def test_a_returning_customer_skips_name_and_phone() -> None:
    chat = Chat(ctx=demo_ctx(profile=Profile("Siti", "+6281234567890", "Siti", "id")))
    chat.command("start")
    chat.tap("m:catalog")
    chat.tap("cat:coffee")
    chat.tap("add:KOPI-SUSU")
    [ask] = chat.tap("co")
    assert chat.state.stage == "ask_address" and "alamat" in ask.text


def test_the_phone_question_asks_for_the_contact_button_and_validates_typed_numbers() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.tap("ck:edit")
    [ask, known] = chat.tap("ck:name")
    assert ask.request_phone and not ask.choices  # a contact button cannot share a message
    assert [c.id for c in known.choices] == ["ck:phone"]
    again, _known = chat.text("12345")
    assert chat.state.stage == "ask_phone" and again.request_phone
    assert "0812" in again.text  # an example in the shop's country format
    chat.phone("6281234567890")  # Telegram's contact, without +
    assert chat.state.phone == "+6281234567890" and chat.state.stage == "ask_address"


def test_the_channel_name_is_offered_and_another_can_be_typed() -> None:
    chat = Chat()
    chat.command("start")
    chat.tap("m:catalog")
    chat.tap("cat:food")
    chat.tap("add:ROTI-BAKAR")
    [ask] = chat.tap("co")
    assert [c.label for c in ask.choices] == ["Pakai Siti"]
    chat.text("  Budi   Santoso ")
    assert chat.state.name == "Budi Santoso" and chat.state.stage == "ask_phone"


def test_greeting_is_in_the_customers_language_and_language_can_be_switched() -> None:
    chat = Chat()
    [hello] = chat.command("start")
    assert hello.text.startswith("Halo Siti!")
    assert [c.label for c in hello.choices] == ["Katalog", "Keranjang", "Pesanan saya", "Bantuan"]
    chat.command("language")
    [english] = chat.tap("lang:en")
    assert english.text.startswith("Hello Siti!") and chat.state.language == "en"
    assert SaveLanguage("en") in chat.effects
    [swahili] = chat.command("language", "sw")
    assert swahili.text.startswith("Jambo Siti!")
    assert [c.label for c in swahili.choices] == ["Bidhaa", "Kikapu", "Oda zangu", "Msaada"]


@pytest.mark.parametrize("greeting", ["hi", "Halo!", "jambo", "HELLO"])
def test_a_typed_greeting_opens_the_menu(greeting: str) -> None:
    [reply] = Chat().text(greeting)
    assert "Halo" in reply.text and reply.choices[0].id == "m:catalog"


def test_cancel_stops_checkout_and_keeps_the_cart() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    [reply] = chat.command("cancel")
    assert chat.state.stage == "idle" and chat.state.cart == (("KOPI-SUSU", 1),)
    assert "Keranjang kamu tetap tersimpan" in reply.text
    assert not any(isinstance(e, CancelOrder) for e in chat.effects)


def test_cancel_while_paying_keeps_the_order_payable() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.tap("pay:sandbox:va:bca")
    [reply] = chat.command("cancel")
    assert "A7K2Q9" in reply.text and chat.state.payment_id == 7
    assert not any(isinstance(e, CancelOrder) for e in chat.effects)


def test_cancel_order_asks_first_then_cancels() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.tap("pay:sandbox:va:bca")
    [confirm] = chat.tap("cxl:A7K2Q9")
    assert [c.id for c in confirm.choices] == ["cxly:A7K2Q9", "ord:A7K2Q9"]
    chat.tap("cxly:")
    assert CancelOrder("A7K2Q9") in chat.effects


@pytest.mark.parametrize("claim", ["sudah bayar", "Sudah transfer kak", "I paid", "nimelipa"])
def test_saying_you_paid_checks_the_pending_payment_now(claim: str) -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.tap("pay:sandbox:qris")
    [reply] = chat.text(claim)
    assert CheckStatus(7) in chat.effects
    assert "belum" in reply.text and reply.choices[0].id == "chk:7"


def test_my_orders_checks_a_pending_payment_quietly_first() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.tap("pay:sandbox:va:bca")
    chat.tap("m:orders") if chat.find("m:orders") else chat.command("orders")
    assert chat.effects[-2:] == [CheckStatus(7, quiet=True), LoadOrders()]


def test_a_paid_status_check_answers_with_a_status_line_not_a_second_confirmation() -> None:
    chat = Chat(checked_status="paid")
    checkout_to_summary(chat)
    chat.tap("pay:sandbox:va:bca")
    [reply] = chat.tap("chk:7")
    assert "A7K2Q9" in reply.text and "Pembayaran diterima" not in reply.text
    assert chat.state.payment_id == 0  # nothing left to check


def test_state_round_trips_through_json() -> None:
    chat = Chat()
    checkout_to_summary(chat)
    chat.text("2 teh tarik")
    state = chat.state.remember("update-1")
    assert State.from_json(state.to_json()) == state
    assert State.from_json({"stage": "nonsense", "cart": "bad"}) == State()
    assert State.from_json({"stage": "gone", "cart": [["X", 1]]}).stage == "idle"
    assert all_text(chat.replies)
