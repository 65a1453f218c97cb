"""What the lifecycle core needs from storage, as Protocols.

storage/repo.py satisfies these structurally; the core never imports SQLAlchemy. Every method
runs inside the caller's transaction, so a status change, its event and its outbox rows commit
together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from payments.base import PaymentStatus


class Channel(StrEnum):
    """Every chat channel, spelled once. Here, not in bot/channels/, because the core and
    storage check customers' channels too; bot/channels/__init__.py says which have code."""

    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    CONSOLE = "console"
    EMAIL = "email"  # receipts only (bot/channels/email/)


# The address of a receipt as the rules write it: "the order's customer's email", which
# storage fills in (the rules never see customers' addresses).
RECEIPT_ADDRESS: Final = ""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone the outbox can message: a chat on a channel."""

    channel: str  # a Channel value
    address: str


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox row to write: the rules decide them, storage keeps them (payments/rules.py)."""

    to: Recipient
    kind: str
    payload: dict[str, Any]
    key: str  # the outbox's dedupe key: one message per key, ever


class ProductRow(Protocol):
    id: int
    sku: str
    names: dict[str, Any]
    price: int
    currency: str
    stock: int | None
    active: bool


class CustomerRow(Protocol):
    id: int
    channel: str
    channel_user_id: str
    name: str | None
    phone: str | None
    email: str | None
    language: str


class OrderRow(Protocol):
    id: int
    code: str
    status: str
    customer_id: int
    currency: str
    items_total: int
    shipping: int
    total: int
    delivery: dict[str, Any]
    expires_at: datetime
    paid_at: datetime | None


class PaymentRow(Protocol):
    id: int
    order_id: int
    attempt: int
    gateway: str
    method: str
    reference: str
    external_id: str | None
    amount: int
    currency: str
    status: str
    instructions: dict[str, Any] | None
    expires_at: datetime | None
    checked_at: datetime | None
    paid_at: datetime | None
    needs_review: bool
    review_reason: str | None


class RefundRow(Protocol):
    id: int
    payment_id: int
    order_id: int
    number: int
    reference: str
    amount: int
    currency: str
    status: str
    by_hand: bool
    reason: str | None
    external_id: str | None
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True, slots=True)
class PaymentName:
    """How a callback names a payment: our reference, the gateway's id, or both."""

    gateway: str
    reference: str | None
    external_id: str | None


@dataclass(frozen=True, slots=True)
class NamedPayment:
    """The columns the callback route needs to ask a gateway about a payment, and no more."""

    reference: str
    external_id: str | None
    gateway: str
    method: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One payment with its order and customer, as read under lock, in our words."""

    payment_id: int
    reference: str
    external_id: str | None
    gateway: str
    method: str
    amount: int
    currency: str
    status: PaymentStatus
    next_check_at: datetime | None
    paid_at: datetime | None
    needs_review: bool
    review_reason: str | None
    order_id: int
    order_code: str
    order_status: str
    order_paid_at: datetime | None
    customer: Recipient | None  # None where the customer has no chat (an API customer)
    language: str


@dataclass(frozen=True, slots=True)
class NewLine:
    product: ProductRow
    quantity: int


class OrderStore(Protocol):
    async def products_by_sku(self, skus: Collection[str]) -> Mapping[str, ProductRow]: ...
    async def take_stock(self, product_id: int, quantity: int) -> bool: ...
    async def return_stock(self, product_id: int, quantity: int) -> None: ...
    async def code_exists(self, code: str) -> bool: ...
    async def add(
        self,
        *,
        code: str,
        customer_id: int,
        currency: str,
        lines: Sequence[NewLine],
        shipping: int,
        delivery: Mapping[str, Any],
        expires_at: datetime,
    ) -> OrderRow: ...
    async def lock(self, order_id: int) -> OrderRow: ...
    async def lock_by_code(self, code: str) -> OrderRow | None: ...
    async def lines(self, order_id: int) -> Sequence[tuple[int, int]]: ...
    async def move(
        self, order_id: int, new: str, allowed_from: Collection[str], **values: Any
    ) -> bool: ...
    async def customer(self, customer_id: int) -> CustomerRow: ...
    async def due_for_expiry(self, now: datetime, limit: int) -> Sequence[int]: ...
    async def save_status(self, snapshots: Sequence[Snapshot], now: datetime) -> None: ...


class PaymentStore(Protocol):
    async def get(self, payment_id: int) -> PaymentRow | None: ...
    async def lock(self, payment_id: int) -> PaymentRow: ...
    async def by_reference(self, reference: str) -> PaymentRow | None: ...
    async def by_external_id(self, gateway: str, external_id: str) -> PaymentRow | None: ...
    async def named(self, names: Sequence[PaymentName]) -> list[NamedPayment | None]:
        """Per name, in one query: the payment with our reference (of any gateway), else this
        gateway's with theirs, else None."""
        ...

    async def of_order(self, order_id: int) -> Sequence[PaymentRow]: ...
    async def add(self, **values: Any) -> PaymentRow: ...
    async def update(self, payment_id: int, **values: Any) -> None: ...
    async def move(
        self, payment_id: int, new: str, allowed_from: Collection[str], **values: Any
    ) -> bool: ...
    async def add_event(self, **values: Any) -> bool:
        """False when an event with the same dedupe_key is already stored."""
        ...

    async def event_exists(self, dedupe_key: str) -> bool: ...
    async def existing_keys(self, keys: Collection[str]) -> set[str]: ...
    async def add_events(self, rows: Sequence[Mapping[str, Any]]) -> None: ...
    async def prune_refused(self, before: datetime) -> int:
        """Delete what strangers may send: unverified callbacks about no payment, before
        `before`."""
        ...

    async def snapshot(self, payment_id: int) -> Snapshot:
        """Lock the payment's order, then the payment (the same order on every path)."""
        ...

    async def snapshots(
        self, gateway: str, references: Collection[str], external_ids: Collection[str]
    ) -> list[Snapshot]: ...
    async def save(self, snapshots: Sequence[Snapshot], now: datetime) -> None: ...


class OutboxStore(Protocol):
    async def enqueue(
        self, to: Recipient, kind: str, payload: Mapping[str, Any], dedupe_key: str
    ) -> bool:
        """False when a row with that dedupe key exists already: one message per key."""
        ...

    async def enqueue_many(self, messages: Sequence[Message]) -> None: ...


class RefundStore(Protocol):
    async def of_payment(self, payment_id: int) -> Sequence[RefundRow]: ...
    async def add(self, **values: Any) -> RefundRow: ...
    async def lock(self, refund_id: int) -> RefundRow | None: ...
    async def update(self, refund_id: int, **values: Any) -> None: ...
    async def due(self, before: datetime, limit: int) -> Sequence[int]:
        """Refunds still requested whose gateway has not answered since `before`."""
        ...


class Store(Protocol):
    """One unit of work's repositories (read-only members, so any subtype satisfies them)."""

    @property
    def orders(self) -> OrderStore: ...
    @property
    def payments(self) -> PaymentStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def refunds(self) -> RefundStore: ...
