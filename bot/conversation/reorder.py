"""Order again: a past order's lines back in the cart, priced today, with the saved details.

From My orders (bot/conversation/pay.py) one tap loads the order; its lines that the shop still
sells (and has enough of) go into the cart at today's prices, the others are named and left
out; the name and phone on record and the order's own delivery are shown for one tap: "Deliver
to Jl. Merdeka 10 again?" [Yes] [Change]. Yes leads to the summary with the payment methods,
so a returning customer pays from /start in four taps (tests/unit/test_flow_journey.py).
"""

from __future__ import annotations

from dataclasses import replace

from bot.conversation import checkout
from bot.conversation.buttons import Verb, tap
from bot.conversation.common import Voice, bold, join_lines, menu_step, say, user_text, voice
from bot.conversation.ctx import Ctx
from bot.conversation.model import CartEntry, LoadOrder, OrderView, Stage, State, Step
from bot.conversation.replies import Reply
from bot.conversation.shop import total


def start(state: State, ctx: Ctx, code: str) -> Step:
    return Step(state, (), (LoadOrder(code, "again"),))


def loaded(state: State, ctx: Ctx, order: OrderView) -> Step:
    v = voice(state, ctx)
    cart, missing = _today(v, order)
    gone = v.t("Not available now, left out: {names}").format(names=", ".join(missing))
    if not cart:
        text = v.t("Nothing of order {code} is available now.").format(code=order.code)
        return menu_step(state, ctx, join_lines(text, gone if missing else ""))
    delivery = "delivery" if order.delivery == "delivery" and order.address else "pickup"
    if delivery == "pickup" and not ctx.shop.pickup:
        delivery = ""  # the shop no longer hands orders over: ask where to deliver
    state = state.to(
        Stage.REORDER,
        cart=cart,
        pending=(),
        name=state.name or ctx.profile.name,
        phone=state.phone or ctx.profile.phone,
        delivery=delivery,
        address=order.address if delivery == "delivery" else state.address,
        note="",
        order_code="",
        method="",
    )
    lines = [f"{q}× {v.name(i)}  {v.money(i.price * q)}" for s, q in cart if (i := ctx.item(s))]
    head = bold(v.t("Order again: {code}").format(code=order.code))
    subtotal = v.t("Items: {amount}").format(amount=v.money(total(v, cart)))
    body = join_lines(head, *lines, subtotal, gone if missing else "", "", _question(v, state))
    choices = (
        v.choice(tap(Verb.DETAILS, "reuse"), v.t("Yes")),
        v.choice(tap(Verb.DETAILS, "edit"), v.t("Change")),
    )
    return say(state, Reply(body, choices))


def _today(v: Voice, order: OrderView) -> tuple[tuple[CartEntry, ...], list[str]]:
    """The lines the shop can sell again now (not sold any more, or not enough left: named
    and left out)."""
    cart: dict[str, int] = {}
    missing: list[str] = []
    for line in order.items:
        item = v.ctx.item(line.sku) if line.sku else None
        wanted = cart.get(line.sku, 0) + line.quantity
        if item is None or (item.stock is not None and item.stock < wanted):
            missing.append(user_text(v.name(item or line.names) or line.sku))
            continue
        cart[line.sku] = wanted
    return tuple(cart.items()), missing


def _question(v: Voice, state: State) -> str:
    who = f"{user_text(state.name)} · {state.phone}" if state.name and state.phone else ""
    if state.delivery == "delivery":
        where = v.t("Deliver to {address} again?").format(address=user_text(state.address))
    elif state.delivery == "pickup":
        where = v.t("Pick it up at the shop again?")
    else:
        where = v.t("Where should we deliver?")
    return join_lines(who, where)


def confirm(state: State, ctx: Ctx) -> Step:
    """Yes: the summary and the methods, or whatever is still missing first."""
    if not state.cart:
        return checkout.start(state, ctx)
    if not (state.name and state.phone):
        return checkout.ask_name(state, ctx)
    if not state.delivery:
        return checkout.ask_address(state, ctx)
    return checkout.summary(state, ctx)


def change(state: State, ctx: Ctx) -> Step:
    """Change: where to deliver (name and phone are changed at the summary, as always)."""
    if not (state.name and state.phone):
        return checkout.ask_name(state, ctx)
    return checkout.ask_address(replace(state, delivery=state.delivery or "delivery"), ctx)
