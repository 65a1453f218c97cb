"""The merchant's numbers: a day's stats and the CSV export of orders, in the shop's time zone.

Days are calendar days where the shop is (Asia/Jakarta by default), turned into UTC ranges
for the queries. The CSV is UTF-8 with a byte-order mark, so Excel reads the names right,
and a cell that a spreadsheet would run as a formula (a customer named "=1+1") is quoted.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from storage.models import Customer, Order, OrderItem, Payment

EXPORT_MAX_ROWS: Final = 20_000
EXPORT_DEFAULT_DAYS: Final = 30
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
COLUMNS: Final = (
    "code", "created_at", "status", "customer_name", "customer_phone", "channel",
    "delivery", "address", "note", "items", "items_total", "shipping", "total", "currency",
    "payment_method", "payment_reference", "payment_status", "paid_at", "shipped_at",
    "tracking",
)  # fmt: skip


FIRST_DAY: Final = date(2000, 1, 1)  # before any shop's first order
LAST_DAY: Final = date(9998, 12, 31)  # its next day, in any zone, is still a date


def parse_day(text: str, today: date) -> date | None:
    """`2026-11-22`, `today` or `yesterday` (also in Indonesian and Swahili); None if neither."""
    word = text.strip().lower()
    if word in ("", "today", "hari-ini", "hariini", "leo"):
        return today
    if word in ("yesterday", "kemarin", "jana"):
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(word)
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None  # the ends of the calendar overflow


def day_range(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last`, where the shop is."""
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time.min, zone)
    end = datetime.combine(last + timedelta(days=1), time.min, zone)
    return start, end


@dataclass(frozen=True, slots=True)
class DayStats:
    placed: dict[str, int]  # orders placed that day, by their status now
    paid_count: int
    paid_total: int
    by_method: list[tuple[str, int, int]]  # method, payments, amount
    shipped: int
    to_review: int  # payments flagged for review, any day


async def day_stats(session: AsyncSession, start: datetime, end: datetime) -> DayStats:
    placed = await session.execute(
        select(Order.status, func.count())
        .where(Order.created_at >= start, Order.created_at < end)
        .group_by(Order.status)
    )
    paid = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Order.total), 0)).where(
                Order.paid_at >= start, Order.paid_at < end
            )
        )
    ).one()
    methods = await session.execute(
        select(Payment.method, func.count(), func.sum(Payment.amount))
        .where(Payment.status == "paid", Payment.paid_at >= start, Payment.paid_at < end)
        .group_by(Payment.method)
        .order_by(func.sum(Payment.amount).desc())
    )
    shipped = await session.scalar(
        select(func.count()).where(Order.shipped_at >= start, Order.shipped_at < end)
    )
    review = await session.scalar(select(func.count()).where(Payment.needs_review.is_(True)))
    return DayStats(
        placed={str(s): int(n) for s, n in placed.tuples()},
        paid_count=int(paid[0]),
        paid_total=int(paid[1]),
        by_method=[(str(m), int(n), int(a or 0)) for m, n, a in methods.tuples()],
        shipped=int(shipped or 0),
        to_review=int(review or 0),
    )


@dataclass(frozen=True, slots=True)
class Export:
    content: bytes
    rows: int
    truncated: bool


async def export_orders(
    session: AsyncSession, start: datetime, end: datetime, *, tz: str, language: str
) -> Export:
    result = await session.execute(
        select(Order, Customer)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.created_at >= start, Order.created_at < end)
        .order_by(Order.created_at, Order.id)
        .limit(EXPORT_MAX_ROWS + 1)
    )
    rows = list(result.tuples())
    truncated = len(rows) > EXPORT_MAX_ROWS
    rows = rows[:EXPORT_MAX_ROWS]
    ids = [order.id for order, _ in rows]
    items = await _items(session, ids, language)
    payments = await _payments(session, ids)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    zone = ZoneInfo(tz)
    for order, customer in rows:
        writer.writerow([_cell(v) for v in _row(order, customer, items, payments, zone)])
    return Export(out.getvalue().encode("utf-8-sig"), len(rows), truncated)


def _row(
    order: Order,
    customer: Customer,
    items: dict[int, str],
    payments: dict[int, Payment],
    zone: ZoneInfo,
) -> list[Any]:
    delivery = order.delivery or {}
    payment = payments.get(order.id)
    return [
        order.code,
        _local(order.created_at, zone),
        order.status,
        customer.name or "",
        customer.phone or "",
        customer.channel,
        delivery.get("method") or "pickup",
        delivery.get("address") or "",
        delivery.get("note") or "",
        items.get(order.id, ""),
        order.items_total,
        order.shipping,
        order.total,
        order.currency,
        payment.method if payment else "",
        payment.reference if payment else "",
        payment.status if payment else "",
        _local(order.paid_at, zone),
        _local(order.shipped_at, zone),
        order.tracking or "",
    ]


async def _items(session: AsyncSession, ids: Sequence[int], language: str) -> dict[int, str]:
    lines: defaultdict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(ids):
        query = select(OrderItem).where(OrderItem.order_id.in_(chunk)).order_by(OrderItem.id)
        for item in await session.scalars(query):
            lines[item.order_id].append(f"{item.quantity}x {texts.pick(item.names, language)}")
    return {order_id: "; ".join(found) for order_id, found in lines.items()}


async def _payments(session: AsyncSession, ids: Sequence[int]) -> dict[int, Payment]:
    """Per order the paid attempt, else the latest one."""
    best: dict[int, Payment] = {}
    for chunk in _chunks(ids):
        query = select(Payment).where(Payment.order_id.in_(chunk)).order_by(Payment.attempt)
        for payment in await session.scalars(query):
            kept = best.get(payment.order_id)
            if kept is None or kept.status != "paid":
                best[payment.order_id] = payment
    return best


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """SQLite caps the parameters of one statement."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""


def _cell(value: Any) -> Any:
    """Phone numbers are ours (E.164, checked), everything else may be anyone's words."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _e164(value):
        return "'" + value
    return value


def _e164(value: str) -> bool:
    return (
        value.startswith("+")
        and value[1:].isascii()
        and value[1:].isdigit()
        and 6 <= len(value) <= 16
    )
