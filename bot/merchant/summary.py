"""The merchants' daily summary: at `[merchant] daily_summary` in the shop's time zone, the
day's paid orders and revenue by method and gateway, the orders still waiting for payment, the
payments that need review and the products running low.

A scheduler job (bot/scheduler.py) calls `send_daily_summary` every minute on every
instance. Once the day's time has passed, each instance may try; the outbox's dedupe key
`summary:{date}:{channel}:{address}` lets exactly one row per merchant and day in, whichever
instance writes first (a unique key, on SQLite as on PostgreSQL), and the outbox worker sends
it once. The numbers go into the row's payload and are worded when it is sent
(bot/notify/notices.py), in the merchant's language (the shop's first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.merchant.report import day_range
from payments.ports import Recipient
from storage.models import Order, Outbox, Payment, Product

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
KIND: Final = "daily_summary"
LOW_STOCK_SHOWN: Final = 10
CHECK_EVERY: Final = 60  # seconds between the scheduler's looks at the clock


def due_day(now: datetime, at: tuple[int, int], tz: str) -> date | None:
    """The shop's local date whose summary is due at `now`, or None before its time."""
    local = now.astimezone(ZoneInfo(tz))
    return local.date() if local.time() >= time(*at) else None


def summary_key(day: date, to: Recipient) -> str:
    return f"summary:{day.isoformat()}:{to.channel}:{to.address}"


async def send_daily_summary(runtime: Runtime) -> int:
    """Write today's summary for each merchant once it is due; returns the rows written."""
    merchant, shop = runtime.config.merchant, runtime.config.shop
    at, merchants = merchant.summary_at, runtime.shop.merchants
    day = due_day(runtime.clock(), at, shop.timezone) if at is not None else None
    if day is None or not merchants:
        return 0
    keys = {summary_key(day, to): to for to in merchants}
    written = 0
    async with runtime.uow() as store:
        known = await store.session.scalars(
            select(Outbox.dedupe_key).where(Outbox.dedupe_key.in_(keys))
        )
        missing = {k: to for k, to in keys.items() if k not in set(known)}
        if not missing:
            return 0
        payload = await day_summary(store.session, day, shop.timezone, merchant.low_stock)
        payload["currency"] = shop.currency
        for key, to in missing.items():
            written += await store.outbox.enqueue(to, KIND, payload, key)
    if written:
        log.info("daily summary of %s written for %d merchant chats", day, written)
    return written


async def day_summary(session: AsyncSession, day: date, tz: str, low_stock: int) -> dict[str, Any]:
    """The numbers of one local day, as the outbox row's payload (JSON)."""
    start, end = day_range(day, day, tz)
    paid = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Order.total), 0)).where(
                Order.paid_at >= start, Order.paid_at < end
            )
        )
    ).one()
    methods = await session.execute(
        select(
            Payment.gateway,
            Payment.method,
            Payment.currency,
            func.count(),
            func.sum(Payment.amount),
        )
        .where(Payment.status == "paid", Payment.paid_at >= start, Payment.paid_at < end)
        .group_by(Payment.gateway, Payment.method, Payment.currency)
        .order_by(func.sum(Payment.amount).desc(), Payment.method)
    )
    waiting = await session.scalar(select(func.count()).where(Order.status == "pending_payment"))
    review = await session.scalar(select(func.count()).where(Payment.needs_review.is_(True)))
    return {
        "date": day.isoformat(),
        "paid_orders": int(paid[0]),
        "revenue": int(paid[1]),
        "by_method": [
            {"gateway": g, "method": m, "currency": c, "payments": int(n), "amount": int(a or 0)}
            for g, m, c, n, a in methods.tuples()
        ],
        "waiting": int(waiting or 0),
        "to_review": int(review or 0),
        "low_stock": await _low_stock(session, low_stock),
    }


async def _low_stock(session: AsyncSession, threshold: int) -> list[dict[str, Any]]:
    rows: Sequence[Product] = list(
        await session.scalars(
            select(Product)
            .where(
                Product.active.is_(True), Product.stock.is_not(None), Product.stock <= threshold
            )
            .order_by(Product.stock, Product.sku)
            .limit(LOW_STOCK_SHOWN)
        )
    )
    return [{"sku": p.sku, "names": dict(p.names), "stock": p.stock} for p in rows]
