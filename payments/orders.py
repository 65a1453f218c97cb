"""Order use cases: place (reserving stock), cancel, ship, expire.

Stock is taken from `products.stock` when the order is placed, stays taken when it is paid,
and goes back on cancel or expiry; a conditional update makes it impossible to oversell, also
with concurrent checkouts on PostgreSQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from payments.base import ALLOWED_FROM, PaymentStatus
from payments.ports import (
    Channel,
    CustomerRow,
    NewLine,
    OrderRow,
    PaymentRow,
    Recipient,
    Store,
)

CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_QUANTITY: Final = 99
MESSAGE_CHANNELS: Final = frozenset(Channel)


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OS = OrderStatus
ORDER_ALLOWED_FROM: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = {
    OS.PENDING_PAYMENT: frozenset(),
    OS.PAID: frozenset({OS.PENDING_PAYMENT}),
    OS.SHIPPED: frozenset({OS.PAID}),
    OS.COMPLETED: frozenset({OS.SHIPPED}),
    OS.CANCELLED: frozenset({OS.PENDING_PAYMENT, OS.PAID}),
    OS.EXPIRED: frozenset({OS.PENDING_PAYMENT}),
}


class OrderError(Exception):
    """A reason a customer can read; `code` lets a channel say it in the customer's language."""

    def __init__(self, code: str, message: str, sku: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.sku = sku


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Delivery:
    method: str = "pickup"  # delivery | pickup
    address: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "address": self.address, "note": self.note}


@dataclass(frozen=True)
class Shop:
    """The parts of the shop's configuration the order rules need."""

    currency: str
    shipping_fee: int = 0
    order_expiry: timedelta = timedelta(hours=24)
    merchants: tuple[Recipient, ...] = field(default_factory=tuple)
    receipts: bool = False  # email a receipt to a customer who gave an address


def new_order_code() -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(6))


def customer_recipient(customer: CustomerRow) -> Recipient | None:
    if customer.channel not in MESSAGE_CHANNELS:
        return None
    return Recipient(customer.channel, customer.channel_user_id)


async def place_order(
    store: Store,
    shop: Shop,
    *,
    customer_id: int,
    cart: Sequence[CartLine],
    delivery: Delivery,
    now: datetime,
) -> OrderRow:
    """Validate every line, reserve stock and write the order; on any error nothing is kept.

    The caller's transaction must roll back on OrderError (storage's `transaction` does).
    """
    lines = await _checked_lines(store, shop, cart)
    for line in lines:
        if not await store.orders.take_stock(line.product.id, line.quantity):
            raise OrderError(
                "out_of_stock",
                f"Sorry, not enough {line.product.names.get('en', line.product.sku)} left.",
                line.product.sku,
            )
    shipping = shop.shipping_fee if delivery.method == "delivery" else 0
    return await store.orders.add(
        code=await _unused_code(store),
        customer_id=customer_id,
        currency=shop.currency,
        lines=lines,
        shipping=shipping,
        delivery=delivery.to_json(),
        expires_at=now + shop.order_expiry,
    )


async def _checked_lines(store: Store, shop: Shop, cart: Sequence[CartLine]) -> list[NewLine]:
    if not cart:
        raise OrderError("empty_cart", "Your cart is empty.")
    merged: dict[str, int] = {}
    for line in cart:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise OrderError(
                "bad_quantity", f"Quantity must be between 1 and {MAX_QUANTITY}.", line.sku
            )
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    products = await store.orders.products_by_sku(list(merged))
    lines = []
    for sku, quantity in merged.items():
        product = products.get(sku)
        if product is None or not product.active or product.currency != shop.currency:
            raise OrderError("unknown_product", f"We don't sell {sku!r} (any more).", sku)
        if quantity > MAX_QUANTITY:
            raise OrderError("bad_quantity", f"At most {MAX_QUANTITY} of one item.", sku)
        lines.append(NewLine(product, quantity))
    return lines


async def _unused_code(store: Store) -> str:
    """32^6 codes make a clash rare; a clash is retried, and the unique index backs it up."""
    for _ in range(10):
        code = new_order_code()
        if not await store.orders.code_exists(code):
            return code
    raise RuntimeError("could not find a free order code in 10 tries")


async def release_stock(store: Store, order_id: int) -> None:
    for product_id, quantity in await store.orders.lines(order_id):
        await store.orders.return_stock(product_id, quantity)


async def retake_stock(store: Store, order_id: int) -> bool:
    """Reserve an expired or cancelled order's stock again, all lines or none."""
    taken: list[tuple[int, int]] = []
    for product_id, quantity in await store.orders.lines(order_id):
        if not await store.orders.take_stock(product_id, quantity):
            for back_id, back_qty in taken:
                await store.orders.return_stock(back_id, back_qty)
            return False
        taken.append((product_id, quantity))
    return True


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The cancelled order, and the attempts it took with it: the caller cancels those at
    their gateways once this transaction is committed (a slow gateway holds no lock)."""

    order: OrderRow
    attempts: list[PaymentRow]


async def cancel_order(store: Store, code: str, *, now: datetime, reason: str = "") -> Cancelled:
    """Stock goes back, the customer is told, and open attempts are cancelled here so the
    poller stops asking about them."""
    order = await _locked(store, code)
    if not await store.orders.move(order.id, OS.CANCELLED, ORDER_ALLOWED_FROM[OS.CANCELLED]):
        raise OrderError(
            "not_cancellable", f"Order {code} is {order.status}; it cannot be cancelled."
        )
    await release_stock(store, order.id)
    await _tell_customer(store, order, "order_cancelled", {"reason": reason})
    payments = await store.payments.of_order(order.id)
    attempts = [p for p in payments if await cancel_attempt(store, p)]
    return Cancelled(await store.orders.lock(order.id), attempts)


async def cancel_attempt(store: Store, payment: PaymentRow) -> bool:
    """Cancel one attempt here unless it is final already (or someone moved it first)."""
    if PaymentStatus(payment.status).is_final:
        return False
    cancelled = PaymentStatus.CANCELLED
    return await store.payments.move(
        payment.id, cancelled, ALLOWED_FROM[cancelled], next_check_at=None
    )


async def ship_order(store: Store, code: str, *, now: datetime, tracking: str | None) -> OrderRow:
    order = await _locked(store, code)
    moved = await store.orders.move(
        order.id, OS.SHIPPED, ORDER_ALLOWED_FROM[OS.SHIPPED], shipped_at=now, tracking=tracking
    )
    if not moved:
        raise OrderError(
            "not_shippable", f"Order {code} is {order.status}; only paid orders ship."
        )
    await _tell_customer(store, order, "order_shipped", {"tracking": tracking})
    return await store.orders.lock(order.id)


async def expire_order(store: Store, order_id: int) -> bool:
    """Expire one unpaid order past its expiry and give its stock back; False if it moved on."""
    order = await store.orders.lock(order_id)
    if not await store.orders.move(order.id, OS.EXPIRED, ORDER_ALLOWED_FROM[OS.EXPIRED]):
        return False
    await release_stock(store, order.id)
    await _tell_customer(store, order, "order_expired", {})
    return True


async def _locked(store: Store, code: str) -> OrderRow:
    order = await store.orders.lock_by_code(code.strip().upper())
    if order is None:
        raise OrderError("unknown_order", f"There is no order {code}.")
    return order


async def _tell_customer(store: Store, order: OrderRow, kind: str, extra: dict[str, Any]) -> None:
    customer = await store.orders.customer(order.customer_id)
    to = customer_recipient(customer)
    if to is None:
        return
    payload = {"order_code": order.code, "language": customer.language, **extra}
    await store.outbox.enqueue(to, kind, payload, f"order:{order.id}:{kind}:customer")


def order_payload(order: OrderRow, customer: CustomerRow) -> dict[str, Any]:
    return {
        "order_code": order.code,
        "total": order.total,
        "currency": order.currency,
        "language": customer.language,
    }
