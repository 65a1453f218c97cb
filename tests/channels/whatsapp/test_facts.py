"""Reply.facts: what a notice gives a WhatsApp template, in the order the docs promise
(docs/channels/whatsapp.md section 3)."""

from __future__ import annotations

from bot.notify.notices import render_notice

PAYMENT = {"order_code": "A7K2Q9", "amount": 35000, "currency": "IDR", "method": "sandbox:va:bca"}


def facts(kind: str, payload: dict[str, object]) -> tuple[str, ...]:
    return render_notice(kind, payload, language="id", tz="Asia/Jakarta", country="ID").facts


def test_a_payment_notice_gives_the_code_the_amount_and_the_method() -> None:
    assert facts("payment_paid", PAYMENT) == ("A7K2Q9", "Rp 35.000", "VA BCA")


def test_an_order_notice_gives_the_code_and_the_total() -> None:
    order = {"order_code": "A7K2Q9", "total": 60000, "currency": "IDR", "tracking": "JNE1"}
    assert facts("order_shipped", order) == ("A7K2Q9", "Rp 60.000")


def test_a_reminder_gives_the_code_and_the_method() -> None:
    reminder = {"order_code": "A7K2Q9", "method": "sandbox:va:bca", "expires_at": None}
    assert facts("payment_reminder", reminder) == ("A7K2Q9", "VA BCA")
