"""Checkout: name, phone, delivery or pickup, an optional note, the summary and the method.

Every answer already known (from this chat's last checkout or the customer's record) is used
without asking again, so a returning customer goes from Checkout to the methods in one step.
The order is placed only when a method is tapped; until then nothing is reserved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import phonenumbers

from bot import methods
from bot.conversation.buttons import Verb, tap
from bot.conversation.common import Voice, bold, menu_step, say, shorten, user_text, voice
from bot.conversation.ctx import Ctx
from bot.conversation.model import (
    OrderPlaced,
    OrderRejected,
    PlaceOrder,
    Stage,
    StartPayment,
    State,
    Step,
)
from bot.conversation.replies import Choice, Reply
from bot.conversation.shop import show_cart, total
from bot.texts import N_

NAME_MAX: Final = 100
ADDRESS_MIN, ADDRESS_MAX = 5, 300
NOTE_MAX: Final = 300


def start(state: State, ctx: Ctx) -> Step:
    if not state.cart:
        return show_cart(state, ctx)
    state = replace(state, pending=(), order_code="", method="", note="")
    name = state.name or ctx.profile.name
    phone = state.phone or ctx.profile.phone
    if name and phone:
        return ask_address(replace(state, name=name, phone=phone), ctx)
    return ask_name(state, ctx)


def ask_name(state: State, ctx: Ctx, problem: str = "") -> Step:
    v = voice(state, ctx)
    suggestion = _suggested_name(state, ctx)
    question = v.t("What name should we put on the order?")
    choices: tuple[Choice, ...] = ()
    if suggestion:
        question += " " + v.t("Tap the button or type another name.")
        choices = (v.choice(tap(Verb.DETAILS, "name"), v.t("Use {name}").format(name=suggestion)),)
    body = f"{problem}\n{question}".strip()
    return say(state.to(Stage.ASK_NAME), Reply(body, choices))


def _suggested_name(state: State, ctx: Ctx) -> str:
    return (state.name or ctx.profile.name or ctx.profile.channel_name).strip()[:NAME_MAX]


def use_suggested_name(state: State, ctx: Ctx) -> Step:
    suggestion = _suggested_name(state, ctx)
    if not suggestion:
        return ask_name(state, ctx)
    return take_name(state, ctx, suggestion)


def take_name(state: State, ctx: Ctx, text: str) -> Step:
    v = voice(state, ctx)
    name = " ".join(text.split())
    if not any(c.isalpha() for c in name) or len(name) > NAME_MAX:
        return ask_name(state, ctx, v.t("Please type your name (up to 100 letters)."))
    if ctx.profile.phone_given and ctx.profile.phone and not state.phone:
        return ask_address(replace(state, name=name, phone=ctx.profile.phone), ctx)
    return ask_phone(replace(state, name=name), ctx)


def ask_phone(state: State, ctx: Ctx, problem: str = "") -> Step:
    v = voice(state, ctx)
    question = v.t("What is your phone number? Share it with the button, or type it.")
    known = state.phone or ctx.profile.phone
    asking = Reply(f"{problem}\n{question}".strip(), request_phone=True)
    if not known:
        return say(state.to(Stage.ASK_PHONE), asking)
    again = Reply(
        v.t("Or use the number you gave before:"), (v.choice(tap(Verb.DETAILS, "phone"), known),)
    )
    return say(state.to(Stage.ASK_PHONE), asking, again)


def take_phone(state: State, ctx: Ctx, text: str) -> Step:
    number = normalize_phone(text, ctx.shop.country)
    if not number:
        v = voice(state, ctx)
        example = _example_number(ctx.shop.country)
        problem = v.t("That does not look like a phone number. Please type it like {example}.")
        return ask_phone(state, ctx, problem.format(example=example))
    return ask_address(replace(state, phone=number), ctx)


def use_known_phone(state: State, ctx: Ctx) -> Step:
    return take_phone(state, ctx, state.phone or ctx.profile.phone)


def normalize_phone(text: str, region: str) -> str:
    """E.164, or "" when the text is no valid number for the shop's country (or with +)."""
    raw = text.strip()[:40]
    candidates = [raw] if raw.startswith("+") else [raw, "+" + raw]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region or None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ""


def _example_number(region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "+62 812 3456 7890"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)


def ask_address(state: State, ctx: Ctx, problem: str = "") -> Step:
    v = voice(state, ctx)
    lines = [problem, v.t("Where should we deliver? Type the address.")]
    choices = []
    if state.address and state.delivery == "delivery":
        choices.append(v.choice(tap(Verb.DETAILS, "again"), v.t("Same address")))
        lines.append(v.t("Last time: {address}").format(address=user_text(state.address)))
    if ctx.shop.pickup:
        lines.append(v.t("Or pick it up at the shop."))
        choices.append(v.choice(tap(Verb.DETAILS, "pickup"), v.t("Pick up")))
    return say(state.to(Stage.ASK_ADDRESS), Reply("\n".join(lines).strip(), tuple(choices)))


def take_address(state: State, ctx: Ctx, text: str) -> Step:
    address = " ".join(text.split())
    if not ADDRESS_MIN <= len(address) <= ADDRESS_MAX:
        v = voice(state, ctx)
        problem = v.t("Please type the full address (5 to 300 characters).")
        return ask_address(state, ctx, problem)
    return summary(replace(state, delivery="delivery", address=address), ctx)


def same_address(state: State, ctx: Ctx) -> Step:
    if not state.address:
        return ask_address(state, ctx)
    return summary(replace(state, delivery="delivery"), ctx)


def pickup(state: State, ctx: Ctx) -> Step:
    if not ctx.shop.pickup:
        return ask_address(state, ctx)
    return summary(replace(state, delivery="pickup"), ctx)


def take_note(state: State, ctx: Ctx, text: str) -> Step:
    v = voice(state, ctx)
    note = " ".join(text.split())
    extra = ""
    if len(note) > NOTE_MAX:
        note, extra = shorten(note, NOTE_MAX), v.t("Your note was long, so I shortened it.")
    return summary(replace(state, note=note), ctx, extra)


def summary(state: State, ctx: Ctx, extra: str = "") -> Step:
    v = voice(state, ctx)
    if not state.cart:
        return show_cart(state, ctx)
    shipping = ctx.shop.shipping_fee if state.delivery == "delivery" else 0
    body = "\n".join([extra, *_summary_lines(v, state, shipping), "", _methods_question(v)])
    choices = (*method_choices(v), v.choice(tap(Verb.DETAILS, "edit"), v.t("Change details")))
    return say(state.to(Stage.SUMMARY), Reply(body.strip(), choices))


def _summary_lines(v: Voice, state: State, shipping: int) -> list[str]:
    items = [
        f"{q}× {v.name(i)}  {v.money(i.price * q)}" for s, q in state.cart if (i := v.ctx.item(s))
    ]
    where = (
        v.t("Deliver to: {address}").format(address=user_text(state.address))
        if state.delivery == "delivery"
        else v.t("Pick up at the shop")
    )
    note = user_text(state.note) if state.note else v.t("none (type one if you like)")
    return [
        bold(v.t("Your order")),
        *items,
        v.t("Shipping: {amount}").format(amount=v.money(shipping)),
        bold(v.t("Total: {amount}").format(amount=v.money(total(v, state.cart) + shipping))),
        "",
        f"{user_text(state.name)} · {state.phone}",
        where,
        v.t("Note: {note}").format(note=note),
    ]


def _methods_question(v: Voice) -> str:
    if not v.ctx.methods:
        return v.t("Online payment is not set up yet. Please contact the shop.")
    return v.t("How would you like to pay?")


def method_choices(v: Voice) -> tuple[Choice, ...]:
    return tuple(
        v.choice(tap(Verb.PAY, m), methods.button_label(v.t, m)) for m in v.ctx.methods[:8]
    )


def edit_details(state: State, ctx: Ctx) -> Step:
    return ask_name(state, ctx)


def place(state: State, ctx: Ctx, method: str) -> Step:
    if method not in ctx.methods or not state.cart:
        return summary(state, ctx)
    effect = PlaceOrder(
        cart=state.cart,
        name=state.name,
        phone=state.phone,
        delivery=state.delivery or "pickup",
        address=state.address if state.delivery == "delivery" else "",
        note=state.note,
    )
    placing = state.to(Stage.PLACING, method=method, busy_since=ctx.now.isoformat())
    return Step(placing, (), (effect,))


def placed(state: State, ctx: Ctx, event: OrderPlaced) -> Step:
    """The cart became the order; the payment is started with the method tapped."""
    bought = dict(event.cart)
    cart = tuple((s, q - bought.get(s, 0)) for s, q in state.cart if q > bought.get(s, 0))
    state = state.to(Stage.PLACING, cart=cart, order_code=event.code, note="")
    if not state.method:
        return menu_step(state, ctx)
    return Step(state, (), (StartPayment(event.code, state.method),))


REJECTIONS: Final = {
    "out_of_stock": N_("Sorry, we do not have enough {name} left. Please change your cart."),
    "unknown_product": N_("Sorry, {name} is no longer sold. I took it out of your cart."),
    "bad_quantity": N_("Please choose between 1 and 99 of {name}."),
    "empty_cart": N_("Your cart is empty."),
}


def rejected(state: State, ctx: Ctx, event: OrderRejected) -> Step:
    v = voice(state, ctx)
    item = ctx.item(event.sku)
    name = v.name(item) if item else event.sku
    text = v.t(REJECTIONS.get(event.reason, "Sorry, the order could not be placed."))
    cart = state.cart
    if event.reason == "unknown_product":
        cart = tuple(line for line in cart if line[0] != event.sku)
    state = state.to(Stage.IDLE, cart=cart, method="")
    if not cart:
        return menu_step(state, ctx, text.format(name=name))
    return show_cart(state, ctx, note=text.format(name=name))


def cancel(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    return menu_step(state, ctx, v.t("OK, checkout stopped. Your cart is kept."))
