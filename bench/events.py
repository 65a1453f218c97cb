"""The callback log's queries over a busy month: `GET /api/events` pages and `/stuck`.

    python -m bench.events [--payments 20000] [--events-per-payment 5] [--url URL]

Seeds pending payments (bench/seed.py) with verified events each (the last of every 100th one
says paid while the payment is still pending: stuck), then times a first page of the log, a
gateway-and-outcome filtered page, and the stuck list (bot/merchant/events.py): median and
worst of 20 runs, in milliseconds. SQLite in a temporary file unless --url names a database
(whose tables it empties).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.reconcile_tick import _empty
from bench.seed import seed_payments
from bot.merchant.events import events_page, stuck_payments
from storage.db import make_engine, make_sessions, transaction
from storage.models import Payment, PaymentEvent

RUNS = 20


async def seed_events(url: str, payments: int, per_payment: int) -> None:
    await seed_payments(url, "sandbox", payments)
    engine = make_engine(url, pool_size=1)
    now = datetime.now(UTC)
    async with transaction(make_sessions(engine)) as session:
        rows = (await session.execute(select(Payment.id, Payment.reference))).all()
        events: list[dict[str, Any]] = []
        for n, (payment_id, reference) in enumerate(rows):
            for k in range(per_payment):
                last = k == per_payment - 1
                status = "paid" if last and n % 100 == 0 else "pending"
                events.append(_event(payment_id, reference, status, now, n * per_payment + k))
            if len(events) >= 20_000:
                await session.execute(insert(PaymentEvent), events)
                events = []
        if events:
            await session.execute(insert(PaymentEvent), events)
    await engine.dispose()


def _event(payment_id: int, reference: str, status: str, now: datetime, n: int) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "gateway": "sandbox",
        "source": "poll" if n % 2 else "callback",
        "reference": reference,
        "raw_status": status.upper(),
        "status": status,
        "outcome": "applied" if status == "paid" else "duplicate",
        "verified": True,
        "body": None,
        "dedupe_key": None,
        "created_at": now - timedelta(seconds=n % 2_000_000),
    }


async def timed(url: str, query: Callable[[Any], Awaitable[Any]]) -> tuple[float, float, Any]:
    engine = make_engine(url, pool_size=1)
    sessions = make_sessions(engine)
    spent, found = [], None
    for _ in range(RUNS):
        async with transaction(sessions) as session:
            start = time.perf_counter()
            found = await query(session)
            spent.append((time.perf_counter() - start) * 1000)
    await engine.dispose()
    return statistics.median(spent), max(spent), found


async def main(url: str, payments: int, per_payment: int) -> None:
    await _empty(url)
    await seed_events(url, payments, per_payment)
    now = datetime.now(UTC)
    queries: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = [
        ("events, first page of 20", lambda s: events_page(s, limit=20)),
        (
            "events, gateway + outcome",
            lambda s: events_page(s, gateway="sandbox", outcome="applied", limit=20),
        ),
        ("stuck, 20 newest", lambda s: stuck_payments(s, now, 20)),
    ]
    total = payments * per_payment
    print(f"{payments} payments, {total} events ({url.split(':')[0]})")
    for name, query in queries:
        median, worst, found = await timed(url, query)
        count = len(found[0]) if isinstance(found, tuple) else len(found)
        print(f"  {name:28} median {median:7.2f} ms  max {worst:7.2f} ms  ({count} rows)")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--events-per-payment", type=int, default=5)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'events.db'}"
        asyncio.run(main(url, args.payments, args.events_per_payment))


if __name__ == "__main__":
    run()
