"""What every part of the conversation needs to talk: the language, money, the menu.

`Voice` binds one turn's language and shop, so handlers write `v.t("...")` and `v.money(x)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot import texts
from bot.conversation.buttons import Verb, tap
from bot.conversation.ctx import Ctx, Item
from bot.conversation.model import Stage, State, Step
from bot.conversation.replies import Choice, Reply
from bot.texts import N_

LABEL_MAX: Final = 20
MENU: Final = (
    (tap(Verb.MENU, "catalog"), N_("Catalog")),
    (tap(Verb.MENU, "cart"), N_("Cart")),
    (tap(Verb.MENU, "orders"), N_("My orders")),
    (tap(Verb.MENU, "help"), N_("Help")),
)
ORDER_STATUS: Final = {
    "pending_payment": N_("waiting for payment"),
    "paid": N_("paid"),
    "shipped": N_("shipped"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
}


def language_of(state: State, ctx: Ctx) -> str:
    for lang in (state.language, ctx.profile.language):
        if lang in ctx.shop.languages:
            return lang
    return ctx.shop.languages[0] if ctx.shop.languages else "en"


@dataclass(frozen=True, slots=True)
class Voice:
    lang: str
    ctx: Ctx

    def t(self, message: str) -> str:
        return texts.translator(self.lang)(message)

    def money(self, amount: int) -> str:
        shop = self.ctx.shop
        return texts.format_money(amount, shop.currency, self.lang, shop.country)

    def when(self, moment: datetime) -> str:
        shop = self.ctx.shop
        return texts.format_when(moment, shop.timezone, self.lang, shop.country)

    def name(self, names: Item | Mapping[str, str]) -> str:
        return texts.pick(names.names if isinstance(names, Item) else names, self.lang)

    def choice(self, choice_id: str, label: str, description: str | None = None) -> Choice:
        """`label` is shown as given (translate it first); long labels are shortened."""
        return Choice(choice_id, shorten(label, LABEL_MAX), description)

    def menu_choices(self) -> tuple[Choice, ...]:
        return tuple(self.choice(cid, self.t(label)) for cid, label in MENU)

    def order_status(self, status: str) -> str:
        return self.t(ORDER_STATUS.get(status, status))


def voice(state: State, ctx: Ctx) -> Voice:
    return Voice(language_of(state, ctx), ctx)


def say(state: State, *replies: Reply) -> Step:
    return Step(state, tuple(replies))


def menu_step(state: State, ctx: Ctx, text: str = "") -> Step:
    """The main menu, after `text` (or a plain question) in the customer's language."""
    v = voice(state, ctx)
    body = text or v.t("What would you like to do?")
    return say(state.to(Stage.IDLE, pending=()), Reply(body, v.menu_choices()))


def join_lines(*parts: str) -> str:
    """The non-empty parts, one per line."""
    return "\n".join(part for part in parts if part)


def bold(text: str) -> str:
    return f"*{text}*"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def user_text(text: str) -> str:
    """Someone's own words echoed back, without our *bold* and `mono` marks inside."""
    return text.replace("*", "∗").replace("`", "'")


def sku_token(sku: str) -> str:
    """A SKU (or category key) as it travels in a choice id: itself when short and plain,
    else a short hash, so that an id never outgrows Telegram's 64 bytes."""
    if sku.isascii() and 0 < len(sku) <= 40 and ":" not in sku:
        return sku
    return "#" + hashlib.sha256(sku.encode()).hexdigest()[:12]


def find_item(ctx: Ctx, token: str) -> Item | None:
    return next((i for i in ctx.items if sku_token(i.sku) == token), None)


def sku_of(state: State, ctx: Ctx, token: str) -> str:
    """The cart line's SKU a token names ("" if none): lines may outlive their product."""
    return next((s for s, _ in state.cart if sku_token(s) == token), "")
