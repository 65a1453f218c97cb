"""Order again, through `flow.step`, pure: a returning customer from /start to payment
instructions in at most four taps, the lines priced today, unavailable ones named."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.conversation.ctx import Profile
from bot.conversation.model import LineView, OrderView, PlaceOrder, StartPayment, Tap
from tests.unit.flowkit import NOW, Chat, demo_ctx

PROFILE = Profile("Siti", "+6281234567890", "Siti", "id")
OLD = NOW - timedelta(days=7)
GONE = LineView({"id": "Es Kopi Lama"}, 1, 15000, "ES-KOPI-LAMA")  # no longer sold


def past(status: str = "completed", **changes: object) -> OrderView:
    """Two Kopi Susu (at last week's 20.000) and a product the shop no longer sells."""
    order = OrderView(
        "B3C4D5",
        status,
        65000,
        "IDR",
        OLD,
        items=(LineView({"id": "Kopi Susu"}, 2, 40000, "KOPI-SUSU"), GONE),
        shipping=10000,
        delivery="delivery",
        address="Jl. Merdeka 10",
    )
    return replace(order, **changes)  # type: ignore[arg-type]


def returning(*orders: OrderView) -> Chat:
    return Chat(ctx=demo_ctx(profile=PROFILE), orders=orders or (past(),))


@pytest.mark.parametrize("method", ["va:bca", "qris", "link", "ussd"])
def test_a_returning_customer_orders_again_in_at_most_four_taps(method: str) -> None:
    chat = returning()
    chat.command("start")
    chat.tap("m:orders")
    [again] = chat.tap("again:B3C4D5")
    assert "Deliver to" not in again.text  # the customer's language: Indonesian
    assert "2× Kopi Susu  Rp 50.000" in again.text  # priced today (25.000), not last week's
    assert "Es Kopi Lama" in again.text and "Jl. Merdeka 10" in again.text
    assert [c.id for c in again.choices] == ["ck:reuse", "ck:edit"]
    [summary] = chat.tap("ck:reuse")
    assert "Total: Rp 60.000" in summary.text and "Siti · +6281234567890" in summary.text
    [instructions] = chat.tap(f"pay:sandbox:{method}")
    assert chat.taps <= 4, chat.taps
    assert chat.state.stage == "paying" and "A7K2Q9" in instructions.text
    place = next(e for e in chat.effects if isinstance(e, PlaceOrder))
    assert place == PlaceOrder(
        cart=(("KOPI-SUSU", 2),),
        name="Siti",
        phone="+6281234567890",
        delivery="delivery",
        address="Jl. Merdeka 10",
        note="",
    )
    assert StartPayment("A7K2Q9", f"sandbox:{method}") in chat.effects


def test_change_asks_where_to_deliver_and_keeps_the_lines() -> None:
    chat = returning()
    chat.command("start")
    chat.tap("m:orders")
    chat.tap("again:B3C4D5")
    [ask] = chat.tap("ck:edit")
    assert chat.state.stage == "ask_address" and "Jl. Merdeka 10" in ask.text
    chat.text("Jl. Sudirman 5, Jakarta")
    assert chat.state.stage == "summary" and chat.state.cart == (("KOPI-SUSU", 2),)
    assert "Jl. Sudirman 5" in chat.replies[-1].text


def test_a_pickup_order_is_offered_as_pickup_again() -> None:
    chat = returning(past(delivery="pickup", address=""))
    chat.command("language", "en")
    chat.tap("m:orders")
    [again] = chat.tap("again:B3C4D5")
    assert "Pick it up at the shop again?" in again.text
    assert "Not available now, left out: Es Kopi Lama" in again.text
    [summary] = chat.tap("ck:reuse")
    assert "Shipping: Rp 0" in summary.text and "Total: Rp 50.000" in summary.text


def test_lines_without_enough_stock_are_left_out_and_nothing_left_means_the_menu() -> None:
    ctx = demo_ctx(profile=PROFILE)
    items = tuple(replace(i, stock=1) if i.sku == "KOPI-SUSU" else i for i in ctx.items)
    chat = Chat(ctx=replace(ctx, items=items), orders=(past(),))
    chat.command("start")
    chat.tap("m:orders")
    [nothing] = chat.tap("again:B3C4D5")
    assert chat.state.stage == "idle" and "B3C4D5" in nothing.text
    assert "Kopi Susu" in nothing.text and "Es Kopi Lama" in nothing.text
    assert nothing.choices[0].id == "m:catalog"


def test_my_orders_offers_order_again_only_for_past_orders() -> None:
    waiting = past("pending_payment", code="W1W1W1")
    chat = returning(waiting, past())
    chat.command("start")
    [orders] = chat.tap("m:orders")
    ids = [c.id for c in orders.choices]
    assert "again:B3C4D5" in ids and "again:W1W1W1" not in ids
    [detail] = chat.tap("ord:B3C4D5")
    assert detail.choices[0].id == "again:B3C4D5"


def test_an_order_again_tap_on_a_waiting_order_shows_it_instead() -> None:
    chat = returning(past("pending_payment"))
    chat.command("start")
    [shown] = chat.send(Tap.parse("again:B3C4D5"))
    assert chat.state.stage == "idle" and "B3C4D5" in shown.text and chat.state.cart == ()
