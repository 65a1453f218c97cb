"""The conversation's values: its state, the events it reacts to, the effects it asks for.

All plain frozen data: the state round-trips to JSON for the conversations table, and effects
are requests the dispatcher carries out, whose results come back as events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from bot.conversation.buttons import Verb
from bot.conversation.replies import Reply
from payments.orders import CROCKFORD


class Stage(StrEnum):
    """Where a chat's conversation stands; State.stage holds one (stored as its value)."""

    IDLE = "idle"  # menu, browsing, cart: typed text is an order or a question
    CONFIRM_ADD = "confirm_add"  # free-text order read back, waiting for Yes / No
    ASK_NAME = "ask_name"
    ASK_PHONE = "ask_phone"
    ASK_ADDRESS = "ask_address"
    SUMMARY = "summary"  # items, total, optional note; tapping a method places the order
    PLACING = "placing"  # order being placed / payment being started
    METHODS = "methods"  # choosing (another) method for an existing order
    PAYING = "paying"  # instructions shown for order_code / payment_id
    REORDER = "reorder"  # a past order's lines in the cart: "Deliver to ... again?"


STAGES: Final = frozenset(Stage)
RECENT_EVENTS: Final = 8
MAX_LINES: Final = 20

CartEntry = tuple[str, int]  # (sku, quantity)


@dataclass(frozen=True, slots=True)
class State:
    """One chat's conversation, kept in the conversations table between messages."""

    stage: Stage = Stage.IDLE
    language: str = ""
    cart: tuple[CartEntry, ...] = ()
    pending: tuple[CartEntry, ...] = ()  # a typed order waiting for "Yes"
    name: str = ""
    phone: str = ""
    delivery: str = ""  # "delivery" | "pickup"
    address: str = ""
    note: str = ""
    method: str = ""  # the method tapped at the summary, until the order is placed
    order_code: str = ""
    payment_id: int = 0  # the latest payment that may still be pending
    busy_since: str = ""  # ISO time the order or payment was asked for (stage "placing")
    recent: tuple[str, ...] = ()  # channel event ids already handled (redeliveries)

    def to(self, stage: Stage, **changes: Any) -> State:
        return replace(self, stage=stage, **changes)

    def quantity(self, sku: str) -> int:
        return next((q for s, q in self.cart if s == sku), 0)

    def seen(self, event_id: str) -> bool:
        return bool(event_id) and event_id in self.recent

    def remember(self, event_id: str) -> State:
        if not event_id:
            return self
        return replace(self, recent=(*self.recent, event_id)[-RECENT_EVENTS:])

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("cart", "pending"):
            data[key] = [list(line) for line in data[key]]
        data["recent"] = list(self.recent)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> State:
        """Tolerant: a row written by an older version never breaks a chat, it starts over."""
        try:
            return _state_from(data or {})
        except (TypeError, ValueError):
            return cls()


def _state_from(data: Mapping[str, Any]) -> State:
    known = {f.name for f in fields(State)}
    values = {k: v for k, v in data.items() if k in known}
    for key in ("cart", "pending"):
        values[key] = tuple((str(s), int(q)) for s, q in values.get(key, ()))[:MAX_LINES]
    values["recent"] = tuple(str(e) for e in values.get("recent", ()))
    for key in known - {"cart", "pending", "recent", "payment_id"}:
        if not isinstance(values.get(key, ""), str):
            raise TypeError(key)
    values["payment_id"] = int(values.get("payment_id") or 0)
    state = State(**values)
    stage = Stage(state.stage) if state.stage in STAGES else Stage.IDLE
    return replace(state, stage=stage)


# ---- what happened: from the chat -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str = ""


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Tap:
    """A button: `verb:arg` as written in the choice id, split once."""

    verb: str
    arg: str = ""

    @classmethod
    def parse(cls, choice_id: str) -> Tap:
        """Button data can be edited by a client: an order verb with anything but an order
        code becomes a tap nobody handles, which step answers with a fresh menu."""
        verb, _, arg = choice_id.partition(":")
        if verb in ORDER_VERBS and not is_order_code(arg):
            return cls(Verb.STALE, "")
        return cls(verb, arg)


ORDER_VERBS: Final = frozenset(
    {Verb.ORDER, Verb.CHANGE_METHOD, Verb.PAY_AGAIN, Verb.CANCEL, Verb.CANCEL_YES}
)


def is_order_code(text: str) -> bool:
    return len(text) == 6 and all(c in CROCKFORD for c in text)


@dataclass(frozen=True, slots=True)
class Phone:
    number: str


# ---- what happened: results of effects ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: int
    order_code: str
    method: str
    status: str
    amount: int
    currency: str
    reference: str = ""
    expires_at: datetime | None = None
    instructions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineView:
    names: Mapping[str, str]
    quantity: int
    line_total: int
    sku: str = ""  # to order the line again (bot/conversation/reorder.py)


@dataclass(frozen=True, slots=True)
class OrderView:
    code: str
    status: str
    total: int
    currency: str
    created_at: datetime
    items: tuple[LineView, ...] = ()
    shipping: int = 0
    delivery: str = "pickup"
    payment: PaymentView | None = None
    address: str = ""  # where it was delivered, for "Order again"


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    code: str
    cart: tuple[CartEntry, ...] = ()  # what went into the order, to take out of the cart


@dataclass(frozen=True, slots=True)
class OrderRejected:
    reason: str  # OrderError.code: empty_cart, unknown_product, bad_quantity, out_of_stock
    sku: str = ""


@dataclass(frozen=True, slots=True)
class PaymentStarted:
    payment: PaymentView


@dataclass(frozen=True, slots=True)
class PaymentRejected:
    reason: str  # method_unavailable, not_payable, unknown_order, gateway_rejected, below_minimum,
    # phone_<country> (the gateway pushes prompts only to numbers of that country)


@dataclass(frozen=True, slots=True)
class StatusChecked:
    payment: PaymentView
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    code: str


@dataclass(frozen=True, slots=True)
class CancelRejected:
    code: str
    status: str


@dataclass(frozen=True, slots=True)
class OrdersLoaded:
    orders: tuple[OrderView, ...]


@dataclass(frozen=True, slots=True)
class OrderLoaded:
    order: OrderView
    purpose: str = "details"  # details | pay


@dataclass(frozen=True, slots=True)
class NotFound:
    """An order or payment the chat named is not this customer's (or does not exist)."""


Event = (
    Command
    | Text
    | Tap
    | Phone
    | OrderPlaced
    | OrderRejected
    | PaymentStarted
    | PaymentRejected
    | StatusChecked
    | OrderCancelled
    | CancelRejected
    | OrdersLoaded
    | OrderLoaded
    | NotFound
)


# ---- what to do: effects ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    cart: tuple[CartEntry, ...]
    name: str
    phone: str
    delivery: str
    address: str
    note: str


@dataclass(frozen=True, slots=True)
class StartPayment:
    order_code: str
    method: str


@dataclass(frozen=True, slots=True)
class CheckStatus:
    payment_id: int
    quiet: bool = False  # a check on the way to another answer (My orders): no reply of its own


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_code: str


@dataclass(frozen=True, slots=True)
class LoadOrders:
    limit: int = 8


@dataclass(frozen=True, slots=True)
class LoadOrder:
    order_code: str
    purpose: str = "details"


@dataclass(frozen=True, slots=True)
class SaveLanguage:
    language: str


Effect = (
    PlaceOrder | StartPayment | CheckStatus | CancelOrder | LoadOrders | LoadOrder | SaveLanguage
)


@dataclass(frozen=True, slots=True)
class Step:
    state: State
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()
