"""Applies per second through the lifecycle core: one transaction per apply vs batches of 50.

Each apply is a verified PAID for a pending payment: it locks the order and the payment,
moves both, stores the event and writes two outbox rows. Prints the median of several runs.

    python bench/lifecycle.py [--payments 2000] [--runs 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bot.catalog import parse_catalog
from bot.catalog_sync import sync_catalog
from payments.attempts import begin_attempt
from payments.base import MethodId, PaymentResult, PaymentStatus
from payments.orders import CartLine, Delivery, Shop, place_order
from payments.ports import Recipient
from payments.service import apply_result
from storage.db import make_engine, make_sessions, transaction, upgrade
from storage.models import Base, Customer
from storage.repo import store_transaction

NOW = datetime.now(UTC)
SHOP = Shop(currency="IDR", merchants=(Recipient("telegram", "1"),))
METHOD = MethodId.parse("sandbox:va:bca")
CATALOG = parse_catalog({"products": [{"sku": "X", "name": "X", "price": 1000}]}, "IDR", "bench")


async def prepare(url: str, count: int) -> list[int]:
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    if not url.startswith("sqlite"):
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    async with transaction(sessions) as session:
        await sync_catalog(session, CATALOG, "IDR", update_existing=True)
        customer = Customer(channel="telegram", channel_user_id="1", language="id")
        session.add(customer)
        await session.flush()
    ids = []
    for start in range(0, count, 100):
        async with store_transaction(sessions) as store:
            for _ in range(min(100, count - start)):
                order = await place_order(
                    store,
                    SHOP,
                    customer_id=customer.id,
                    cart=[CartLine("X", 1)],
                    delivery=Delivery(),
                    now=NOW,
                )
                attempt = await begin_attempt(
                    store, order.code, METHOD, expiry=timedelta(hours=1), now=NOW
                )
                ids.append(attempt.payment_id)
    await engine.dispose()
    return ids


async def run(url: str, ids: list[int], batch: int) -> float:
    engine = make_engine(url)
    sessions = make_sessions(engine)
    result = PaymentResult(None, "ext", PaymentStatus.PAID, amount=1000, raw_status="paid")
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        async with store_transaction(sessions) as store:
            for payment_id in ids[start : start + batch]:
                await apply_result(
                    store,
                    SHOP,
                    payment_id,
                    result,
                    source="poll",
                    now=NOW,
                    dedupe_key=f"bench:{payment_id}",
                )
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return len(ids) / elapsed


async def measure(name: str, url: str, count: int, runs: int) -> None:
    figures: dict[int, list[float]] = {1: [], 50: []}
    for run_number in range(runs):
        for batch in figures:
            if url.startswith("sqlite"):
                url = url.rsplit("/", 1)[0] + f"/bench-{run_number}-{batch}.db"
            ids = await prepare(url, count)
            figures[batch].append(await run(url, ids, batch))
    one, fifty = (statistics.median(figures[b]) for b in (1, 50))
    print(
        f"{name:<10} one tx per apply: {one:8.0f}/s   batches of 50: {fifty:8.0f}/s   "
        f"ratio {fifty / one:4.1f}x   (median of {runs}, {count} payments)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "CHECKOUT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(measure("sqlite", sqlite_url, args.payments, args.runs))
    if args.pg:
        asyncio.run(measure("postgresql", args.pg, args.payments, args.runs))


if __name__ == "__main__":
    main()
