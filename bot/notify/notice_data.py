"""Loads what a notice shows beyond its outbox payload (for the outbox worker and the demo).

Only `order_paid` and `receipt` need more: the merchant wants the items, the customer and the
delivery, the customer's receipt the items, and the payload carries the order's id only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.notify.notices import MerchantOrder, OrderLine
from storage.models import Customer, Order, OrderItem


async def load_notice_extra(
    session: AsyncSession, kind: str, payload: Mapping[str, Any], *, language: str
) -> MerchantOrder | None:
    """The `extra` for `render_notice(kind, payload, ...)`; None when the kind needs none."""
    if kind not in ("order_paid", "receipt"):
        return None
    order = await _order(session, payload)
    if order is None:
        return None
    customer = await session.get(Customer, order.customer_id)
    items = await session.scalars(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    )
    delivery = order.delivery or {}
    return MerchantOrder(
        lines=tuple(
            OrderLine(texts.pick(i.names, language), i.quantity, i.line_total) for i in items
        ),
        shipping=order.shipping,
        total=order.total,
        customer_name=(customer.name if customer else "") or "",
        customer_phone=(customer.phone if customer else "") or "",
        customer_channel=customer.channel if customer else "",
        delivery=str(delivery.get("method") or "pickup"),
        address=str(delivery.get("address") or ""),
        note=str(delivery.get("note") or ""),
    )


async def _order(session: AsyncSession, payload: Mapping[str, Any]) -> Order | None:
    if isinstance(payload.get("order_id"), int):
        return await session.get(Order, payload["order_id"])
    code = str(payload.get("order_code") or "")
    return await session.scalar(select(Order).where(Order.code == code)) if code else None
