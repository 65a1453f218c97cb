"""Orders, payments and products as the API shows them (DESIGN section 4), and the queries
behind them. `checkout-bot orders list|show` runs the same queries, so the command line and
the API never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import Channel
from storage.models import Customer, Order, OrderItem, Payment, PaymentEvent, Product, Refund

Json = dict[str, Any]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def products(session: AsyncSession, currency: str) -> list[Json]:
    """What the shop sells now: active, in its currency (sold-out ones show stock 0)."""
    rows = await session.scalars(
        select(Product)
        .where(Product.active.is_(True), Product.currency == currency)
        .order_by(Product.id)
    )
    return [
        {
            "sku": p.sku,
            "category": p.category,
            "names": dict(p.names),
            "descriptions": dict(p.descriptions or {}),
            "price": p.price,
            "currency": p.currency,
            "stock": p.stock,
        }
        for p in rows
    ]


def payment_json(payment: Payment, order_code: str) -> Json:
    return {
        "id": payment.id,
        "order_code": order_code,
        "method": payment.method,
        "gateway": payment.gateway,
        "reference": payment.reference,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "instructions": payment.instructions,
        "expires_at": _time(payment.expires_at),
        "paid_at": _time(payment.paid_at),
        "needs_review": payment.needs_review,
        "review_reason": payment.review_reason,
        "created_at": _time(payment.created_at),
    }


def customer_json(customer: Customer) -> Json:
    chat = customer.channel_user_id
    telegram = (
        customer.channel == Channel.TELEGRAM
        and chat.lstrip("-").isascii()
        and chat.lstrip("-").isdigit()
    )
    return {
        "name": customer.name,
        "phone": customer.phone,
        "email": customer.email,
        "telegram_chat_id": int(chat) if telegram else None,
        "whatsapp_id": chat if customer.channel == Channel.WHATSAPP else None,
        "language": customer.language,
    }


def _item_json(item: OrderItem) -> Json:
    return {
        "sku": item.sku,
        "names": dict(item.names),
        "unit_price": item.unit_price,
        "quantity": item.quantity,
        "total": item.line_total,
    }


def _order_json(
    order: Order, customer: Customer, items: Sequence[OrderItem], payments: Sequence[Payment]
) -> Json:
    delivery = order.delivery or {}
    return {
        "code": order.code,
        "status": order.status,
        "items": [_item_json(i) for i in items],
        "items_total": order.items_total,
        "shipping": order.shipping,
        "total": order.total,
        "currency": order.currency,
        "customer": customer_json(customer),
        "delivery": {
            "method": str(delivery.get("method") or "pickup"),
            "address": delivery.get("address"),
            "note": delivery.get("note"),
        },
        "payments": [payment_json(p, order.code) for p in payments],
        "created_at": _time(order.created_at),
        "expires_at": _time(order.expires_at),
        "paid_at": _time(order.paid_at),
        "shipped_at": _time(order.shipped_at),
        "tracking": order.tracking,
    }


async def _orders_json(
    session: AsyncSession, rows: Sequence[tuple[Order, Customer]]
) -> list[Json]:
    """Items and payments of a page of orders in two queries, not two per order."""
    ids = [order.id for order, _ in rows]
    items: defaultdict[int, list[OrderItem]] = defaultdict(list)
    for item in await session.scalars(
        select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.id)
    ):
        items[item.order_id].append(item)
    payments: defaultdict[int, list[Payment]] = defaultdict(list)
    for payment in await session.scalars(
        select(Payment).where(Payment.order_id.in_(ids)).order_by(Payment.attempt)
    ):
        payments[payment.order_id].append(payment)
    return [_order_json(o, c, items[o.id], payments[o.id]) for o, c in rows]


async def orders_page(
    session: AsyncSession, *, status: str | None, limit: int, before: int | None
) -> tuple[list[Json], int | None]:
    """Newest first; the second value is the last order id when another page follows."""
    query = select(Order, Customer).join(Customer, Customer.id == Order.customer_id)
    if status is not None:
        query = query.where(Order.status == status)
    if before is not None:
        query = query.where(Order.id < before)
    result = await session.execute(query.order_by(Order.id.desc()).limit(limit + 1))
    rows = [(order, customer) for order, customer in result.tuples()]
    more = len(rows) > limit
    rows = rows[:limit]
    return await _orders_json(session, rows), rows[-1][0].id if more and rows else None


async def order_detail(session: AsyncSession, code: str) -> Json | None:
    """One order with its payments' events (the audit trail, without raw bodies)."""
    result = await session.execute(
        select(Order, Customer)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.code == code.strip().upper())
    )
    row = result.tuples().first()
    if row is None:
        return None
    [order] = await _orders_json(session, [row])
    ids = [p["id"] for p in order["payments"]]
    events = await session.scalars(
        select(PaymentEvent).where(PaymentEvent.payment_id.in_(ids)).order_by(PaymentEvent.id)
    )
    refunds = await session.scalars(
        select(Refund)
        .join(Order, Order.id == Refund.order_id)
        .where(Order.code == order["code"])
        .order_by(Refund.id)
    )
    return {
        **order,
        "events": [_event_json(e) for e in events],
        "refunds": [refund_json(r, order["code"]) for r in refunds],
    }


def refund_json(refund: Refund, order_code: str) -> Json:
    return {
        "id": refund.id,
        "order_code": order_code,
        "payment_id": refund.payment_id,
        "reference": refund.reference,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "by_hand": refund.by_hand,
        "reason": refund.reason,
        "created_at": _time(refund.created_at),
        "settled_at": _time(refund.settled_at),
    }


async def refund_detail(session: AsyncSession, refund_id: int) -> Json | None:
    row = (
        await session.execute(
            select(Refund, Order.code)
            .join(Order, Order.id == Refund.order_id)
            .where(Refund.id == refund_id)
        )
    ).first()
    return None if row is None else refund_json(row[0], row[1])


def _event_json(event: PaymentEvent) -> Json:
    return {
        "id": event.id,
        "payment_id": event.payment_id,
        "reference": event.reference,
        "source": event.source,
        "status": event.status,
        "outcome": event.outcome,
        "verified": event.verified,
        "created_at": _time(event.created_at),
    }


async def payment_detail(session: AsyncSession, payment_id: int) -> Json | None:
    result = await session.execute(
        select(Payment, Order.code)
        .join(Order, Order.id == Payment.order_id)
        .where(Payment.id == payment_id)
    )
    row = result.tuples().first()
    return payment_json(*row) if row is not None else None


# ---- the same shapes as text, for `checkout-bot orders list|show` ------------------------------


def _money(amount: int, currency: str) -> str:
    from bot.texts import format_money  # gettext catalogs: only the command line needs them

    return format_money(amount, currency, "en")


def order_table(orders: Sequence[Json]) -> list[str]:
    rows = [("CODE", "STATUS", "TOTAL", "CUSTOMER", "CREATED")]
    for o in orders:
        who = o["customer"]["name"] or o["customer"]["phone"] or "-"
        created = (o["created_at"] or "")[:16].replace("T", " ")
        rows.append((o["code"], o["status"], _money(o["total"], o["currency"]), who, created))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def order_text(order: Json) -> list[str]:
    customer, delivery, currency = order["customer"], order["delivery"], order["currency"]
    who = f"{customer['name'] or '-'}, {customer['phone'] or '-'}"
    where = f", {delivery['address']}" if delivery["address"] else ""
    lines = [
        f"Order {order['code']}: {order['status']}",
        f"Customer: {who} ({customer['language']})",
        f"Delivery: {delivery['method']}{where}",
    ]
    for item in order["items"]:
        name = item["names"].get("en") or item["sku"]
        lines.append(f"  {item['quantity']} x {name}: {_money(item['total'], currency)}")
    lines.append(f"Shipping: {_money(order['shipping'], currency)}")
    lines.append(f"Total: {_money(order['total'], currency)}")
    if order["tracking"]:
        lines.append(f"Tracking: {order['tracking']}")
    for p in order["payments"]:
        review = " (needs review)" if p["needs_review"] else ""
        lines.append(f"Payment {p['id']} {p['reference']} {p['method']}: {p['status']}{review}")
    for r in order.get("refunds", []):
        by_hand = " (by hand)" if r["by_hand"] else ""
        amount = _money(r["amount"], r["currency"])
        lines.append(f"Refund {r['reference']} {amount}: {r['status']}{by_hand}")
    for e in order.get("events", []):
        lines.append(f"  {e['created_at'][:19]} {e['source']}: {e['status']} ({e['outcome']})")
    return lines
