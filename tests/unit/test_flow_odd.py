"""Odd input never breaks the conversation: every event gets a helpful, well-formed answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.conversation.model import (
    STAGES,
    Command,
    Event,
    NotFound,
    OrderRejected,
    PaymentRejected,
    Phone,
    PlaceOrder,
    StartPayment,
    State,
    Tap,
    Text,
)
from bot.conversation.replies import Reply
from tests.unit.flowkit import Chat, demo_ctx, stepped

STALE = "Tombol itu dari langkah sebelumnya"
LANGUAGES = ("id", "en", "sw")


def well_formed(replies: list[Reply] | tuple[Reply, ...]) -> None:
    assert replies, "every event gets an answer"
    for reply in replies:
        assert reply.text.strip()
        for choice in reply.choices:
            assert choice.id.isascii() and 0 < len(choice.id.encode()) <= 64
            assert choice.label.strip() and len(choice.label) <= 20


@pytest.mark.parametrize(
    "text", ["😀", "🙏🙏🙏", "   ", "x" * 5000, "%s {name} {0}", "<b>hi</b>", "\u202e\u0000"]
)
def test_odd_text_gets_a_helpful_menu(text: str) -> None:
    chat = Chat()
    replies = chat.text(text)
    well_formed(replies)
    assert replies[-1].choices[0].id == "m:catalog" and chat.state.stage == "idle"


@pytest.mark.parametrize("text", ["0 kopi susu", "100 kopi susu", "-1 kopi susu"])
def test_quantities_out_of_range_are_explained_and_nothing_is_added(text: str) -> None:
    chat = Chat()
    [reply] = chat.text(text)
    assert "1" in reply.text and "99" in reply.text and chat.state.cart == ()


def test_adding_beyond_the_stock_or_99_is_refused_kindly() -> None:
    chat = Chat()
    chat.text("20 biji kopi gayo")  # stock 20
    chat.tap("ft:yes")
    [reply] = chat.send(Tap("add", "BIJI-GAYO-250"))
    assert "20" in reply.text and chat.state.quantity("BIJI-GAYO-250") == 20
    chat.send(Tap("inc", "BIJI-GAYO-250"))
    assert chat.state.quantity("BIJI-GAYO-250") == 20


def test_an_unknown_command_gets_the_menu() -> None:
    [reply] = Chat().command("frobnicate")
    assert "Perintah itu tidak saya kenal" in reply.text and reply.choices


@pytest.mark.parametrize(
    "choice_id",
    [
        "ft:yes",  # a confirmation already answered
        "ck:name",  # a checkout question no longer open
        "pay:sandbox:va:bca",  # a summary that is gone
        "add:NO-SUCH-SKU",
        "inc:NO-SUCH-SKU",
        "cat:nowhere:3",
        "lang:fr",
        "chk:not-a-number",
        "zz:whatever",
        # edited button data: digits to str.isdigit that int() refuses, odd codes, huge pages
        "chk:1\u00b2",
        "cat:coffee:\u00b2",
        "cat:coffee:99999999999999999999999",
        "ord:\u00c47K2Q9",
        "ord:\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2",
    ],
)
def test_a_stale_button_gets_a_fresh_menu_not_an_error(choice_id: str) -> None:
    chat = Chat()
    replies = chat.send(Tap.parse(choice_id))
    well_formed(replies)
    assert replies[-1].choices and chat.state.stage == "idle"
    assert not chat.effects


def test_a_stale_button_keeps_the_cart() -> None:
    chat = Chat()
    chat.text("2 teh tarik")
    chat.tap("ft:yes")
    chat.send(Tap.parse("ft:yes"))
    assert STALE in chat.replies[-1].text and chat.state.cart == (("TEH-TARIK", 2),)


def test_cart_quantity_changes_edit_the_message() -> None:
    chat = Chat()
    chat.text("1 teh tarik")
    chat.tap("ft:yes")
    [plus] = chat.tap("inc:TEH-TARIK")
    assert plus.edit and chat.state.quantity("TEH-TARIK") == 2
    [minus] = chat.tap("dec:TEH-TARIK")
    assert minus.edit and chat.state.quantity("TEH-TARIK") == 1
    [gone] = chat.tap("rm:TEH-TARIK")
    assert gone.edit and chat.state.cart == ()


def test_a_cart_with_several_lines_edits_one_line_at_a_time() -> None:
    chat = Chat()
    chat.text("1 teh tarik, 2 roti bakar")
    [cart] = chat.tap("ft:yes")
    assert [c.id for c in cart.choices][:2] == ["line:TEH-TARIK", "line:ROTI-BAKAR"]
    [line] = chat.tap("line:ROTI-BAKAR")
    assert line.edit and "2× Roti Bakar" in line.text
    chat.tap("dec:ROTI-BAKAR")
    assert chat.state.cart == (("TEH-TARIK", 1), ("ROTI-BAKAR", 1))


def test_effect_failures_are_explained() -> None:
    chat = Chat()
    chat.text("1 teh tarik")
    chat.tap("ft:yes")
    out = stepped(
        replace(chat.state, method="sandbox:qris"), OrderRejected("out_of_stock", "TEH-TARIK")
    )
    assert "Teh Tarik" in out.replies[0].text and out.state.cart
    gone = stepped(chat.state, OrderRejected("unknown_product", "TEH-TARIK"))
    assert gone.state.cart == ()
    paying = replace(chat.state, stage="placing", order_code="A7K2Q9")
    busy = stepped(paying, PaymentRejected("gateway_rejected"))
    assert busy.state.stage == "methods" and busy.replies[0].choices[0].id.startswith("pay:")
    closed = stepped(paying, PaymentRejected("not_payable"))
    assert closed.state.order_code == "" and closed.replies
    well_formed(stepped(chat.state, NotFound()).replies)


# ---- properties -------------------------------------------------------------------------------

TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["2 kopi susu", "halo", "sudah bayar", "ya", "tidak", "0812 3456 7890",
                     "Jl. Merdeka 1", "menu", "keranjang", "x" * 700, "😀"]),
)  # fmt: skip
CHOICE_IDS = st.one_of(
    st.sampled_from(["m:catalog", "m:cart", "m:orders", "m:help", "m:menu", "m:lang", "co",
                     "cat:coffee:0", "cat:beans:1", "add:KOPI-SUSU", "inc:KOPI-SUSU",
                     "dec:KOPI-SUSU", "rm:KOPI-SUSU", "line:KOPI-SUSU", "ft:yes", "ft:no",
                     "ck:name", "ck:phone", "ck:pickup", "ck:again", "ck:edit",
                     "pay:sandbox:qris", "chk:7", "chg:A7K2Q9", "repay:A7K2Q9", "cxl:A7K2Q9",
                     "cxly:A7K2Q9", "ord:A7K2Q9", "lang:sw"]),
    st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=64),
)  # fmt: skip
EVENTS: st.SearchStrategy[Event] = st.one_of(
    TEXTS.map(Text),
    CHOICE_IDS.map(Tap.parse),
    st.sampled_from(["start", "cancel", "language", "help", "cart", "orders", "nope"]).map(
        Command
    ),
    st.sampled_from(["+6281234567890", "12", ""]).map(Phone),
)
STATES = st.builds(
    State,
    stage=st.sampled_from(sorted(STAGES)),
    language=st.sampled_from(["", *LANGUAGES]),
    cart=st.lists(
        st.tuples(st.sampled_from(["KOPI-SUSU", "TEH-TARIK", "GONE-SKU"]), st.integers(1, 99)),
        max_size=3,
        unique_by=lambda line: line[0],
    ).map(tuple),
    name=st.sampled_from(["", "Siti"]),
    phone=st.sampled_from(["", "+6281234567890"]),
    delivery=st.sampled_from(["", "delivery", "pickup"]),
    address=st.sampled_from(["", "Jl. Merdeka 1"]),
    order_code=st.sampled_from(["", "A7K2Q9"]),
    payment_id=st.sampled_from([0, 7]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=STATES, event=EVENTS)
def test_any_event_in_any_state_gets_a_well_formed_answer(state: State, event: Event) -> None:
    done = stepped(state, event)
    assert done.state.stage in STAGES
    assert State.from_json(done.state.to_json()) == done.state
    if done.effects:
        return  # its answer comes with the effect's result
    well_formed(done.replies)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), language=st.sampled_from(LANGUAGES))
def test_every_button_the_bot_shows_is_understood(data: st.DataObject, language: str) -> None:
    """A walk over the buttons as shown: none of them is ever answered as stale."""
    chat = Chat(state=State(language=language))
    chat.command("start")
    for _ in range(25):
        choices = chat.replies[-1].choices if chat.replies else ()
        if not choices:
            chat.text(typed_answer(chat.state.stage))
            continue
        choice = data.draw(st.sampled_from(choices))
        replies = chat.send(Tap.parse(choice.id))
        well_formed(replies)
        assert not any("earlier step" in r.text or STALE in r.text for r in replies), choice.id


def typed_answer(stage: str) -> str:
    return {
        "ask_name": "Siti",
        "ask_phone": "081234567890",
        "ask_address": "Jl. Merdeka No. 1",
        "summary": "tanpa gula",
    }.get(stage, "2 kopi susu")


def test_the_context_is_only_read() -> None:
    ctx = demo_ctx()
    Chat(ctx=ctx).text("2 kopi susu")
    assert ctx == demo_ctx()


def test_a_second_pay_tap_waits_but_a_crashed_one_is_retried() -> None:
    chat = Chat()
    chat.text("1 teh tarik")
    chat.tap("ft:yes")
    now = demo_ctx().now
    placing = replace(
        chat.state, stage="placing", method="sandbox:qris", busy_since=now.isoformat()
    )
    waiting = stepped(placing, Tap("pay", "sandbox:qris"))
    assert not waiting.effects and waiting.replies[0].text == "Sebentar ya…"
    crashed = replace(placing, busy_since=(now - timedelta(minutes=5)).isoformat())
    retried = stepped(crashed, Tap("pay", "sandbox:qris"))
    assert isinstance(retried.effects[0], PlaceOrder)
    paying = replace(crashed, order_code="A7K2Q9")
    assert stepped(paying, Tap("pay", "sandbox:qris")).effects == (
        StartPayment("A7K2Q9", "sandbox:qris"),
    )
