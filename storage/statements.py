"""The callback path's statements, built once with bind parameters.

SQLAlchemy caches a statement's compiled form under its cache key, but building the
statement, generating that key and compiling an `on_conflict_do_nothing()` insert (which has
no cache key, so it is compiled again on every call) cost more Python time per batch than
SQLite needs to run it. Built once here, each is looked up in the cache by a memoized key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import TextClause, bindparam, select, text, update

from storage.models import Base, Customer, Order, Outbox, Payment, PaymentEvent


def insert_or_skip(model: type[Base], columns: Sequence[str], key: str) -> TextClause:
    """INSERT ... ON CONFLICT (key) DO NOTHING, which SQLite and PostgreSQL both speak, as a
    textual statement: cacheable, and typed per column so JSON and datetimes bind as usual."""
    table = model.__table__
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    statement = text(
        f"INSERT INTO {model.__tablename__} ({names}) VALUES ({values}) "
        f"ON CONFLICT ({key}) DO NOTHING"
    )
    return statement.bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


SNAPSHOT_COLUMNS: Final = (
    Payment.id,
    Payment.reference,
    Payment.external_id,
    Payment.gateway,
    Payment.method,
    Payment.amount,
    Payment.currency,
    Payment.status,
    Payment.next_check_at,
    Payment.paid_at,
    Payment.needs_review,
    Payment.review_reason,
    Order.id.label("order_id"),
    Order.code.label("order_code"),
    Order.status.label("order_status"),
    Order.paid_at.label("order_paid_at"),
    Customer.channel,
    Customer.channel_user_id,
    Customer.language,
)

# Payments named by our reference or by a gateway's id (expanding lists: either may be
# empty). Parameters: references, external_ids.
BY_EITHER_NAME = Payment.reference.in_(
    bindparam("references", expanding=True)
) | Payment.external_id.in_(bindparam("external_ids", expanding=True))

# Those of one gateway. Parameters: gateway, references, external_ids.
NAMED = (Payment.gateway == bindparam("gateway")) & BY_EITHER_NAME

# The callback route's look-up before a status query, for many callbacks (of any gateways) at
# once; which row answers which callback is `_pick` in storage/repo.py.
NAMED_BY_EITHER: Final = (
    select(Payment.reference, Payment.external_id, Payment.gateway, Payment.method)
    .where(BY_EITHER_NAME)
    .order_by(Payment.id)
)

SNAPSHOTS: Final = (
    select(*SNAPSHOT_COLUMNS)
    .join(Order, Order.id == Payment.order_id)
    .join(Customer, Customer.id == Order.customer_id)
    .where(NAMED)
    .order_by(Payment.id)
    .with_for_update(of=Payment.__table__)
)

ORDERS_OF_NAMED: Final = select(Payment.order_id).where(NAMED)

LOCK_ORDERS: Final = (
    select(Order.id)
    .where(Order.id.in_(bindparam("order_ids", expanding=True)))
    .order_by(Order.id)
    .with_for_update()
)

EXISTING_KEYS: Final = select(PaymentEvent.dedupe_key).where(
    PaymentEvent.dedupe_key.in_(bindparam("keys", expanding=True))
)

SAVE_PAYMENT: Final = (
    update(Payment)
    .where(Payment.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        next_check_at=bindparam("b_next"),
        paid_at=bindparam("b_paid"),
        needs_review=bindparam("b_review"),
        review_reason=bindparam("b_reason"),
        updated_at=bindparam("b_now"),
    )
)

SAVE_ORDER_STATUS: Final = (
    update(Order)
    .where(Order.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"), paid_at=bindparam("b_paid"), updated_at=bindparam("b_now")
    )
)

ADD_EVENTS: Final = insert_or_skip(
    PaymentEvent,
    [
        "payment_id",
        "gateway",
        "source",
        "reference",
        "raw_status",
        "status",
        "outcome",
        "verified",
        "body",
        "dedupe_key",
        "created_at",
    ],
    "dedupe_key",
)

ENQUEUE: Final = insert_or_skip(
    Outbox,
    [
        "channel",
        "address",
        "kind",
        "payload",
        "dedupe_key",
        "attempts",
        "next_attempt_at",
        "created_at",
    ],
    "dedupe_key",
)
