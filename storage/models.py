"""SQLAlchemy 2.0 typed models. Money is BigInteger minor units; times are aware UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from storage.text import storable

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _SQLiteText(sqlite.DATETIME):
    """SQLite's DATETIME as SQLAlchemy stores it ('2026-11-22 03:00:00.000000', the same DDL),
    written and read with the C isoformat/fromisoformat: its own %-formatting and regular
    expression cost more per row than the rest of a callback's binds together."""

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        def process(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        def process(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

        return process


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on SQLite (which keeps naive text) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteText())
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SafeString(TypeDecorator[str]):
    """Text as storable as the column: most of it comes from outside (callbacks, chats), and a
    lone surrogate or NUL that neither aiosqlite nor PostgreSQL takes, or a value longer than
    PostgreSQL's VARCHAR allows, must not fail a transaction that other writes share."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        limit: int | None = getattr(self.impl_instance, "length", None)
        return None if value is None else storable(value, limit)


class SafeText(SafeString):
    impl = Text
    cache_ok = True


Json = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: Json, int: Integer}  # noqa: RUF012


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(SafeString(64), unique=True)
    names: Mapped[dict[str, Any]]
    position: Mapped[int] = mapped_column(default=0)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(SafeString(64), unique=True)
    category: Mapped[str] = mapped_column(SafeString(64))
    names: Mapped[dict[str, Any]]
    descriptions: Mapped[dict[str, Any]]
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(SafeString(3))
    stock: Mapped[int | None]  # units free to sell; None: not counted
    photo: Mapped[str | None] = mapped_column(SafeText)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(SafeString(16))  # telegram | whatsapp | console | api
    channel_user_id: Mapped[str] = mapped_column(SafeString(128))
    name: Mapped[str | None] = mapped_column(SafeString(200))
    phone: Mapped[str | None] = mapped_column(SafeString(32))
    email: Mapped[str | None] = mapped_column(SafeString(254))
    language: Mapped[str] = mapped_column(SafeString(8), default="id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index(None, "status", "expires_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(SafeString(6), unique=True)
    status: Mapped[str] = mapped_column(SafeString(20), default="pending_payment")
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(SafeString(3))
    items_total: Mapped[int] = mapped_column(BigInteger)
    shipping: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    delivery: Mapped[dict[str, Any]]  # {"method": "delivery"|"pickup", "address", "note"}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    tracking: Mapped[str | None] = mapped_column(SafeString(100))
    customer: Mapped[Customer] = relationship(lazy="raise")
    items: Mapped[list[OrderItem]] = relationship(lazy="raise", order_by="OrderItem.id")


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(SafeString(64))
    names: Mapped[dict[str, Any]]  # snapshot at order time
    unit_price: Mapped[int] = mapped_column(BigInteger)  # snapshot at order time
    quantity: Mapped[int]
    line_total: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("order_id", "attempt"),
        # The poller's claim reads only due rows of live payments: cost follows the due count.
        Index(
            "ix_payments_due",
            "next_check_at",
            postgresql_where=text("next_check_at IS NOT NULL"),
            sqlite_where=text("next_check_at IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    attempt: Mapped[int]
    gateway: Mapped[str] = mapped_column(SafeString(32))
    method: Mapped[str] = mapped_column(SafeString(64))
    reference: Mapped[str] = mapped_column(SafeString(32), unique=True)
    external_id: Mapped[str | None] = mapped_column(SafeString(128), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(SafeString(3))
    status: Mapped[str] = mapped_column(SafeString(16), default="pending")
    instructions: Mapped[dict[str, Any] | None]
    expires_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    check_count: Mapped[int] = mapped_column(default=0)
    checked_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reason: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The instance whose poller lease this is (Instance.id): freed when it stops beating.
    claimed_by: Mapped[str | None] = mapped_column(SafeString(64), index=True)


class Refund(Base):
    """Money given back for a paid payment, whole or in part; `number` counts per payment."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("payment_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    number: Mapped[int]
    reference: Mapped[str] = mapped_column(SafeString(40), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(SafeString(3))
    status: Mapped[str] = mapped_column(SafeString(16), default="requested")
    by_hand: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(SafeText)
    external_id: Mapped[str | None] = mapped_column(SafeString(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    gateway: Mapped[str] = mapped_column(SafeString(32))
    source: Mapped[str] = mapped_column(SafeString(16))  # callback | poll | manual | api | create
    reference: Mapped[str | None] = mapped_column(SafeString(64))
    raw_status: Mapped[str | None] = mapped_column(SafeString(64))
    status: Mapped[str | None] = mapped_column(SafeString(16))  # canonical, when read
    outcome: Mapped[str] = mapped_column(
        SafeString(16)
    )  # applied | duplicate | stale | review ...
    verified: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str | None] = mapped_column(SafeText)
    dedupe_key: Mapped[str | None] = mapped_column(SafeString(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # outage window


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(SafeString(16))
    address: Mapped[str] = mapped_column(SafeString(128))
    kind: Mapped[str] = mapped_column(SafeString(32))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(SafeString(160), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set just before the chat API is asked, cleared by its answer: still set when the row is
    # claimed again means the send's outcome is unknown (bot/notify/worker.py, in doubt).
    send_started_at: Mapped[datetime | None]
    doubts: Mapped[int] = mapped_column(default=0, server_default="0")
    claimed_by: Mapped[str | None] = mapped_column(SafeString(64), index=True)


class Instance(Base):
    """A running process and its heartbeat (storage/instances_repo.py): the claims of one that
    stopped beating are taken over in seconds rather than after their lease."""

    __tablename__ = "instances"
    id: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(SafeString(16))
    chat_id: Mapped[str] = mapped_column(SafeString(128))
    state: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertMark(Base):
    """When an alert that must not repeat too often was last raised, shared by all instances."""

    __tablename__ = "alert_marks"
    key: Mapped[str] = mapped_column(
        SafeString(128), primary_key=True
    )  # callbacks_missing:sandbox
    raised_at: Mapped[datetime]


class IdempotencyKey(Base):
    """An API request's Idempotency-Key and the answer it got, shared by all instances.

    `status` is None while the first request is still running.
    """

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(SafeString(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(SafeString(64))
    status: Mapped[int | None]
    body: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime]


# ---- WhatsApp (bot/channels/whatsapp/store.py) ----------------------------------------------


class WhatsAppSeen(Base):
    """A webhook message id (wamid) already handled: Meta retries for days, and any instance
    may get the retry."""

    __tablename__ = "whatsapp_seen"
    message_id: Mapped[str] = mapped_column(SafeString(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class WhatsAppContact(Base):
    """When a customer last wrote to us: free-form messages only within 24 hours of it."""

    __tablename__ = "whatsapp_contacts"
    address: Mapped[str] = mapped_column(SafeString(128), primary_key=True)
    last_inbound_at: Mapped[datetime]


class WhatsAppMessage(Base):
    """A message we sent (its wamid), for the status webhooks: only ever forward."""

    __tablename__ = "whatsapp_messages"
    wamid: Mapped[str] = mapped_column(SafeString(255), primary_key=True)
    address: Mapped[str] = mapped_column(SafeString(128))
    kind: Mapped[str] = mapped_column(SafeString(32))
    template: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[str | None] = mapped_column(SafeText)  # JSON: the template's, for a fallback
    status: Mapped[str] = mapped_column(SafeString(16), default="accepted")
    error: Mapped[str | None] = mapped_column(SafeText)
    updated_at: Mapped[datetime]
