"""Shopping: greeting, catalog pages, product cards, the cart, and typed orders.

Nothing here touches the database: the cart lives in the conversation state, and prices and
stock come from the catalog snapshot in the context (placing the order checks them again).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from bot.conversation.buttons import Verb, tap
from bot.conversation.common import (
    Voice,
    bold,
    find_item,
    menu_step,
    say,
    shorten,
    sku_of,
    sku_token,
    user_text,
    voice,
)
from bot.conversation.ctx import Ctx, Item
from bot.conversation.model import CartEntry, Stage, State, Step
from bot.conversation.parse import Wanted, parse_order
from bot.conversation.replies import Choice, Image, Reply
from payments.orders import MAX_QUANTITY

PAGE: Final = 8
MAX_CART_LINES: Final = 8  # what one WhatsApp list can show next to Checkout and Catalog


def greet(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    who = ctx.profile.name or ctx.profile.channel_name
    hello = v.t("Hello {name}!").format(name=who) if who else v.t("Hello!")
    welcome = v.t("Welcome to {shop}.").format(shop=ctx.shop.name)
    hint = v.t("Browse the catalog, or just type your order, for example: {example}")
    text = f"{hello} {welcome}\n{hint.format(example=_example(v))}"
    return menu_step(state, ctx, text)


def _example(v: Voice) -> str:
    names = [v.name(i).lower() for i in v.ctx.items[:2]]
    return ", ".join(f"{n} {name}" for n, name in zip((2, 1), names, strict=False)) or "2 ..."


def categories(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    shown = [s for s in ctx.sections if ctx.in_section(s.key)]
    if not shown:
        empty = v.t("The catalog is empty right now. Please come back later.")
        return menu_step(state, ctx, empty)
    choices = [
        v.choice(tap(Verb.CATEGORY, f"{sku_token(s.key)}:0"), v.name(s.names)) for s in shown[:9]
    ]
    choices.append(v.choice(tap(Verb.MENU, "cart"), v.t("Cart")))
    return say(state.to(Stage.IDLE), Reply(v.t("What are you looking for?"), tuple(choices)))


def category_page(state: State, ctx: Ctx, arg: str) -> Step:
    token, _, page_text = arg.rpartition(":")
    key = next((s.key for s in ctx.sections if sku_token(s.key) == token), "")
    items = ctx.in_section(key)
    # ASCII digits only: "²".isdigit() is True, and int("²") raises
    page = int(page_text) if page_text.isascii() and page_text.isdigit() else 0
    shown = items[page * PAGE : (page + 1) * PAGE]
    if not shown:
        return categories(state, ctx)
    v = voice(state, ctx)
    cards = tuple(_card(v, item) for item in shown if item.photo)
    listed = [item for item in shown if not item.photo]
    choices = [_add_choice(v, item) for item in listed]
    if len(items) > (page + 1) * PAGE:
        choices.append(v.choice(tap(Verb.CATEGORY, f"{token}:{page + 1}"), v.t("More")))
    choices.append(v.choice(tap(Verb.MENU, "catalog"), v.t("Back")))
    section = ctx.section(key)
    title = bold(v.name(section.names)) if section else ""
    body = "\n\n".join([title, *(product_text(v, item) for item in listed)]).strip()
    return say(state.to(Stage.IDLE), *cards, Reply(body or v.t("Tap to add:"), tuple(choices)))


def product_text(v: Voice, item: Item) -> str:
    line = f"*{v.name(item)}*  {v.money(item.price)}"
    description = v.name(item.descriptions) if item.descriptions else ""
    return f"{line}\n{description}" if description else line


def _card(v: Voice, item: Item) -> Reply:
    return Reply(product_text(v, item), (_add_choice(v, item),), image=Image(url=item.photo))


def _add_choice(v: Voice, item: Item) -> Choice:
    return v.choice(tap(Verb.ADD, sku_token(item.sku)), f"+ {v.name(item)}", v.money(item.price))


def add(state: State, ctx: Ctx, token: str) -> Step:
    item = find_item(ctx, token)
    v = voice(state, ctx)
    if item is None:
        return menu_step(state, ctx, v.t("Sorry, that product is no longer available."))
    cart, problem = _add_lines(v, state.cart, ((item.sku, 1),))
    if problem:
        return say(state, Reply(problem, _after_add_choices(v, item)))
    text = v.t("Added {name} to your cart.").format(name=v.name(item))
    reply = Reply(f"{text}\n{_cart_line(v, cart)}", _after_add_choices(v, item))
    return say(state.to(Stage.IDLE, cart=cart), reply)


def _after_add_choices(v: Voice, item: Item | None) -> tuple[Choice, ...]:
    back = (
        tap(Verb.CATEGORY, f"{sku_token(item.category)}:0") if item else tap(Verb.MENU, "catalog")
    )
    return (
        v.choice(tap(Verb.CHECKOUT), v.t("Checkout")),
        v.choice(tap(Verb.MENU, "cart"), v.t("Cart")),
        v.choice(back, v.t("Keep shopping")),
    )


def _cart_line(v: Voice, cart: tuple[CartEntry, ...]) -> str:
    return v.t("Your cart: {total}").format(total=v.money(total(v, cart)))


def total(v: Voice, cart: tuple[CartEntry, ...]) -> int:
    return sum(item.price * q for sku, q in cart if (item := v.ctx.item(sku)) is not None)


def _add_lines(
    v: Voice, cart: tuple[CartEntry, ...], lines: tuple[CartEntry, ...]
) -> tuple[tuple[CartEntry, ...], str]:
    """The cart with these lines added, or the cart unchanged and why not."""
    merged = dict(cart)
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
        item = v.ctx.item(sku)
        if merged[sku] > MAX_QUANTITY:
            return cart, v.t("At most {max} of one item, please.").format(max=MAX_QUANTITY)
        if item and item.stock is not None and merged[sku] > item.stock:
            left = v.t("Sorry, only {count} {name} left.")
            return cart, left.format(count=item.stock, name=v.name(item))
    if len(merged) > MAX_CART_LINES:
        return cart, v.t("Your cart is full. Please check out first.")
    return tuple(merged.items()), ""


# ---- the cart ----------------------------------------------------------------------------------


def show_cart(state: State, ctx: Ctx, *, edit: bool = False, note: str = "") -> Step:
    v = voice(state, ctx)
    state = state.to(Stage.IDLE)
    if not state.cart:
        empty = v.t("Your cart is empty.")
        body = f"{note}\n{empty}".strip()
        return say(
            state, Reply(body, (v.choice(tap(Verb.MENU, "catalog"), v.t("Catalog")),), edit=edit)
        )
    lines = [_line_text(v, sku, q) for sku, q in state.cart]
    body = "\n".join([note, bold(v.t("Your cart")), *lines, "", _total_text(v, state.cart)])
    more = (
        v.choice(tap(Verb.CHECKOUT), v.t("Checkout")),
        v.choice(tap(Verb.MENU, "catalog"), v.t("Keep shopping")),
    )
    choices = (*_line_choices(v, state.cart), *more)
    return say(state, Reply(body.strip(), choices, edit=edit))


def _line_text(v: Voice, sku: str, quantity: int) -> str:
    item = v.ctx.item(sku)
    if item is None:
        return f"{quantity}× {sku} — " + v.t("no longer available")
    return f"{quantity}× {v.name(item)}  {v.money(item.price * quantity)}"


def _total_text(v: Voice, cart: tuple[CartEntry, ...]) -> str:
    return v.t("Total: {amount}").format(amount=v.money(total(v, cart)))


def _line_choices(v: Voice, cart: tuple[CartEntry, ...]) -> tuple[Choice, ...]:
    if len(cart) == 1:
        return _editor_choices(v, cart[0][0])[:3]
    return tuple(
        v.choice(tap(Verb.LINE, sku_token(sku)), f"✎ {_short_name(v, sku)} ×{q}")
        for sku, q in cart
    )


def _editor_choices(v: Voice, sku: str) -> tuple[Choice, ...]:
    token = sku_token(sku)
    return (
        v.choice(tap(Verb.LESS, token), "−"),
        v.choice(tap(Verb.MORE, token), "+"),
        v.choice(tap(Verb.REMOVE, token), v.t("Remove")),
        v.choice(tap(Verb.MENU, "cart"), v.t("Back to cart")),
    )


def _short_name(v: Voice, sku: str) -> str:
    item = v.ctx.item(sku)
    return v.name(item) if item else sku


def line_editor(state: State, ctx: Ctx, token: str, note: str = "") -> Step:
    sku = sku_of(state, ctx, token)
    if not sku:
        return show_cart(state, ctx, edit=True)
    v = voice(state, ctx)
    body = "\n".join([note, _line_text(v, sku, state.quantity(sku)), _total_text(v, state.cart)])
    return say(state.to(Stage.IDLE), Reply(body.strip(), _editor_choices(v, sku), edit=True))


def change_line(state: State, ctx: Ctx, op: str, token: str) -> Step:
    sku = sku_of(state, ctx, token)
    if not sku:
        return show_cart(state, ctx, edit=True)
    v = voice(state, ctx)
    had = state.quantity(sku)
    after: dict[str, int] = {Verb.MORE: had + 1, Verb.LESS: had - 1}
    quantity = after.get(op, 0)  # rm: none left
    item = ctx.item(sku)
    note = ""
    if quantity > MAX_QUANTITY or (item and item.stock is not None and quantity > item.stock):
        quantity, note = had, v.t("That is all we can sell of this one.")
    cart = tuple((s, quantity if s == sku else q) for s, q in state.cart)
    state = replace(state, cart=tuple(line for line in cart if line[1] > 0))
    if len(state.cart) > 1 and state.quantity(sku):
        return line_editor(state, ctx, token, note)
    return show_cart(state, ctx, edit=True, note=note)


# ---- typed orders ------------------------------------------------------------------------------


def typed_order(state: State, ctx: Ctx, text: str) -> Step:
    v = voice(state, ctx)
    wanted = tuple(w for w in parse_order(text, ctx.items) if any(c.isalnum() for c in w.text))
    good = tuple((w.sku, w.quantity) for w in wanted if w.sku and 1 <= w.quantity <= MAX_QUANTITY)
    notes = [n for w in wanted if (n := _problem(v, w))]
    suggestions = tuple(dict.fromkeys(s for w in wanted if not w.sku for s in w.candidates))
    if not good and not suggestions:
        return not_understood(state, ctx, "\n".join(notes))
    if not good:
        return _suggest(state, ctx, notes, suggestions)
    listing = ", ".join(f"{q}× {_short_name(v, s)}" for s, q in good)
    ask = v.t("Add {items} to your cart?").format(items=listing)
    choices = (
        v.choice(tap(Verb.FIRST_TIME, "yes"), v.t("Yes")),
        v.choice(tap(Verb.FIRST_TIME, "no"), v.t("No")),
    )
    body = "\n".join([*notes, ask]).strip()
    return say(state.to(Stage.CONFIRM_ADD, pending=good), Reply(body, choices))


def _problem(v: Voice, wanted: Wanted) -> str:
    said = user_text(shorten(wanted.text, 60))
    if wanted.sku and not 1 <= wanted.quantity <= MAX_QUANTITY:
        text = v.t("“{text}”: the quantity must be from 1 to {max}.")
        return text.format(text=said, max=MAX_QUANTITY)
    if wanted.sku:
        return ""
    if wanted.candidates:
        options = ", ".join(_short_name(v, sku) for sku in wanted.candidates)
        return v.t("“{text}”: which one do you mean? {options}").format(text=said, options=options)
    return v.t("Sorry, we don't have “{text}”.").format(text=said)


def _suggest(state: State, ctx: Ctx, notes: list[str], skus: tuple[str, ...]) -> Step:
    v = voice(state, ctx)
    items = [i for s in skus if (i := ctx.item(s))]
    choices = (
        *(_add_choice(v, i) for i in items[:5]),
        v.choice(tap(Verb.MENU, "catalog"), v.t("Catalog")),
    )
    return say(state.to(Stage.IDLE, pending=()), Reply("\n".join(notes), choices))


def not_understood(state: State, ctx: Ctx, detail: str = "") -> Step:
    """`detail` says what went wrong, when we know more than "not understood"."""
    v = voice(state, ctx)
    sorry = detail or v.t("Sorry, I didn't understand that.")
    hint = v.t("You can type your order, for example: {example}").format(example=_example(v))
    return menu_step(state, ctx, f"{sorry}\n{hint}")


def accept_pending(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    cart, problem = _add_lines(v, state.cart, state.pending)
    state = state.to(Stage.IDLE, pending=())
    if problem:
        return show_cart(state, ctx, note=problem)
    return show_cart(replace(state, cart=cart), ctx, note=v.t("Added."))


def drop_pending(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    return menu_step(state, ctx, v.t("OK, nothing was added."))
