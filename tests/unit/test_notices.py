"""Outbox notifications rendered for customers and merchants, in their language."""

from __future__ import annotations

from typing import Any

import pytest

from bot.conversation.model import State, Tap
from bot.notify.notices import RENDERERS, MerchantOrder, OrderLine, render_notice
from tests.unit.flowkit import Chat

PAID: dict[str, Any] = {
    "order_code": "A7K2Q9",
    "payment_id": 12,
    "reference": "A7K2Q901",
    "amount": 125000,
    "currency": "IDR",
    "method": "sandbox:va:bca",
    "language": "id",
}
PAYLOADS: dict[str, dict[str, Any]] = {
    "payment_paid": PAID,
    "payment_failed": PAID,
    "payment_expired": PAID,
    "order_expired": {"order_code": "A7K2Q9", "language": "id"},
    "order_cancelled": {"order_code": "A7K2Q9", "language": "id", "reason": "customer"},
    "order_shipped": {"order_code": "A7K2Q9", "language": "id", "tracking": "JNE123"},
    "order_paid": PAID | {"order_id": 3},
    "payment_review": {"reference": "A7K2Q901", "payment_id": 12, "reason": "amount mismatch"},
    "payment_reminder": {
        "order_code": "A7K2Q9",
        "payment_id": 12,
        "reference": "A7K2Q901",
        "method": "sandbox:va:bca",
        "expires_at": "2026-11-23T03:00:00+00:00",
        "language": "id",
    },
    "payment_no_prompt": {"order_code": "A7K2Q9", "payment_id": 12, "method": "sandbox:ussd"},
    "ussd_no_prompt": {"order_code": "A7K2Q9", "payment_id": 12},
    "gateway_callbacks_missing": {
        "gateway": "midtrans",
        "paid_by_query": 4,
        "rejected_callbacks": 0,
        "window_minutes": 60,
        "callback_url": "https://shop.example/callbacks/midtrans",
        "checks": ["..."],
        "text": "midtrans: ...",
    },
}
ORDER = MerchantOrder(
    lines=(OrderLine("Kopi Susu", 2, 50000), OrderLine("Roti Bakar", 1, 22000)),
    shipping=10000,
    total=82000,
    customer_name="Siti",
    customer_phone="+6281234567890",
    customer_channel="telegram",
    delivery="delivery",
    address="Jl. Merdeka No. 1",
    note="tanpa gula",
)


def notice(kind: str, language: str = "id", **changes: Any) -> str:
    reply = render_notice(kind, PAYLOADS[kind] | changes, language=language, tz="Asia/Jakarta")
    return reply.text


def test_the_confirmation_reads_like_the_design() -> None:
    assert notice("payment_paid").startswith(
        "Pembayaran diterima: pesanan A7K2Q9, Rp 125.000 via VA BCA"
    )
    assert notice("payment_paid", "en").startswith(
        "Payment received: order A7K2Q9, Rp 125.000 via BCA VA"
    )
    assert notice("payment_paid", "sw").startswith("Malipo yamepokelewa: oda A7K2Q9")


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize("language", ["id", "en", "sw"])
def test_every_kind_renders_in_every_language(kind: str, language: str) -> None:
    reply = render_notice(kind, PAYLOADS[kind], language=language, tz="Asia/Jakarta", extra=ORDER)
    assert reply.text.strip() and not reply.text.startswith("*")  # its own text, not generic
    assert all(len(c.id.encode()) <= 64 and c.label for c in reply.choices)


def test_an_expired_payment_offers_to_pay_again_in_one_tap() -> None:
    reply = render_notice("payment_expired", PAID, language="en", tz="Asia/Jakarta")
    assert [c.id for c in reply.choices] == ["repay:A7K2Q9", "cxl:A7K2Q9"]


def test_every_notice_button_is_understood_by_the_conversation() -> None:
    for kind, payload in PAYLOADS.items():
        reply = render_notice(kind, payload, language="id", tz="Asia/Jakarta")
        for choice in reply.choices:
            chat = Chat(state=State(language="id"))
            replies = chat.send(Tap.parse(choice.id))
            assert not any("langkah sebelumnya" in r.text for r in replies), (kind, choice.id)


def test_the_merchant_sees_items_customer_and_delivery() -> None:
    text = render_notice(
        "order_paid", PAYLOADS["order_paid"], language="en", tz="Asia/Jakarta", extra=ORDER
    ).text
    for part in (
        "New paid order A7K2Q9: Rp 125.000 via BCA VA",
        "2× Kopi Susu  Rp 50.000",
        "Customer: Siti, +6281234567890 (telegram)",
        "Deliver to: Jl. Merdeka No. 1",
        "Note: tanpa gula",
        "A7K2Q901",
    ):
        assert part in text
    bare = render_notice("order_paid", PAYLOADS["order_paid"], language="en", tz="Asia/Jakarta")
    assert bare.text.startswith("New paid order A7K2Q9")


def test_the_merchant_is_told_which_gateway_took_the_money() -> None:
    paid = PAYLOADS["order_paid"] | {"method": "xendit:va:bca"}
    for language, line in (("en", "Paid through: Xendit"), ("id", "Dibayar melalui: Xendit")):
        assert line in render_notice("order_paid", paid, language=language, tz="UTC").text
    ipaymu = PAYLOADS["order_paid"] | {"method": "ipaymu:qris"}
    assert "iPaymu" in render_notice("order_paid", ipaymu, language="sw", tz="UTC").text


def test_cancelled_by_the_shop_gives_the_reason() -> None:
    assert "as you asked" in notice("order_cancelled", "en")
    text = notice("order_cancelled", "en", reason="sold out today")
    assert "by the shop" in text and "sold out today" in text


def test_reminder_shows_the_expiry_in_the_shops_time() -> None:
    assert "23 Nov, 10:00 WIB" in notice("payment_reminder")


def test_an_unknown_kind_or_payload_still_renders_from_its_keys() -> None:
    reply = render_notice(
        "payment_surprise",
        {"order_code": "A7K2Q9", "amount": 5000, "currency": "IDR", "text": "Something new"},
        language="en",
        tz="Asia/Jakarta",
    )
    assert reply.text.startswith("*Payment surprise*") and "Something new" in reply.text
    assert "Amount: Rp 5.000" in reply.text and reply.choices[0].id == "ord:A7K2Q9"
    broken = render_notice("payment_paid", {"order_code": "X"}, language="en", tz="Asia/Jakarta")
    assert "X" in broken.text


def test_the_renderers_cover_the_kinds_the_core_writes() -> None:
    assert set(PAYLOADS) <= set(RENDERERS)
