"""A pure harness for conversation tests: the demo catalog as context, and a chat that steps.

`Chat` plays the dispatcher's part without a database: it answers the effects the payment
journey needs with plausible results, so a test can walk from /start to the instructions
and count the taps on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import load_config
from bot.conversation.ctx import Ctx, Item, Profile, Section, ShopInfo
from bot.conversation.flow import step
from bot.conversation.model import (
    CancelOrder,
    CheckStatus,
    Command,
    Effect,
    Event,
    LoadOrder,
    LoadOrders,
    OrderCancelled,
    OrderLoaded,
    OrderPlaced,
    OrdersLoaded,
    OrderView,
    PaymentStarted,
    PaymentView,
    Phone,
    PlaceOrder,
    StartPayment,
    State,
    StatusChecked,
    Step,
    Tap,
    Text,
)
from bot.conversation.replies import Choice, Reply
from payments.qris import build_qris
from tests.conftest import ROOT

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
METHODS = ("sandbox:va:bca", "sandbox:qris", "sandbox:link", "sandbox:ussd")
QR = build_qris(merchant_name="Warung Kopi", city="Jakarta", amount=35000, reference="A7K2Q901")
INSTRUCTIONS: dict[str, dict[str, str]] = {
    "va": {"kind": "va", "bank": "bca", "number": "8860812345678901", "url": "https://x/pay"},
    "qris": {"kind": "qris", "qr_string": QR, "url": "https://x/pay"},
    "link": {"kind": "link", "url": "https://sandbox.example/pay/ABCDEF01"},
    "ussd": {"kind": "ussd", "phone": "+6281234567890", "url": "https://x/pay"},
}


def demo_ctx(**changes: Any) -> Ctx:
    config = load_config(ROOT / "config.toml", environ={})
    catalog = config.load_catalog()
    items = tuple(
        Item(p.sku, p.category, p.names, p.price, p.descriptions, p.stock, p.photo)
        for p in catalog.products
    )
    sections = tuple(Section(c.id, c.names) for c in catalog.categories)
    shop = ShopInfo(name=config.shop.name, shipping_fee=10000, pickup=True)
    ctx = Ctx(shop, items, sections, METHODS, NOW, Profile(channel_name="Siti", language="id"))
    return replace(ctx, **changes)


@dataclass
class Chat:
    """One customer talking to `step`, with effects answered in memory."""

    ctx: Ctx = field(default_factory=demo_ctx)
    state: State = field(default_factory=lambda: State(language="id"))
    taps: int = 0
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    checked_status: str = "pending"  # what a status check finds
    orders: tuple[OrderView, ...] = ()  # the customer's past orders, newest first

    def send(self, event: Event) -> list[Reply]:
        """Step one event and every effect it causes; returns all replies of this turn."""
        if isinstance(event, Tap):
            self.taps += 1
        out: list[Reply] = []
        queue: list[Event] = [event]
        while queue:
            done = step(self.state, queue.pop(0), self.ctx)
            self.state = done.state
            out += done.replies
            self.effects += done.effects
            queue += [e for e in map(self.answer, done.effects) if e is not None]
        self.replies += out
        return out

    def text(self, text: str) -> list[Reply]:
        return self.send(Text(text))

    def command(self, name: str, args: str = "") -> list[Reply]:
        return self.send(Command(name, args))

    def phone(self, number: str) -> list[Reply]:
        return self.send(Phone(number))

    def tap(self, prefix: str) -> list[Reply]:
        """Tap the first button of the last message with buttons whose id starts with prefix."""
        choice_id = self.find(prefix)
        assert choice_id, f"no button {prefix!r} in {[c.id for c in self.last_choices()]}"
        return self.send(Tap.parse(choice_id))

    def find(self, prefix: str) -> str:
        return next((c.id for c in self.last_choices() if c.id.startswith(prefix)), "")

    def last_choices(self) -> tuple[Choice, ...]:
        return next((r.choices for r in reversed(self.replies) if r.choices), ())

    def answer(self, effect: Effect) -> Event | None:
        match effect:
            case PlaceOrder(cart=cart):
                return OrderPlaced("A7K2Q9", cart)
            case StartPayment(code, method):
                return PaymentStarted(self.payment(code, method, "pending"))
            case CheckStatus(payment_id, quiet):
                checked = self.payment("A7K2Q9", METHODS[0], self.checked_status, payment_id)
                return StatusChecked(checked, quiet)
            case LoadOrders():
                return OrdersLoaded(self.orders)
            case CancelOrder(code):
                return OrderCancelled(code)
            case LoadOrder(code, purpose):
                past = next((o for o in self.orders if o.code == code), None)
                order = past or OrderView(
                    code, "pending_payment", 35000, "IDR", NOW, shipping=10000
                )
                return OrderLoaded(order, purpose)
        return None

    def payment(self, code: str, method: str, status: str, payment_id: int = 7) -> PaymentView:
        kind = method.split(":")[1]
        expires = NOW + timedelta(hours=24)
        return PaymentView(
            payment_id,
            code,
            method,
            status,
            35000,
            "IDR",
            f"{code}01",
            expires,
            INSTRUCTIONS[kind],
        )


def all_text(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def stepped(state: State, event: Event, ctx: Ctx | None = None) -> Step:
    return step(state, event, ctx or demo_ctx())
