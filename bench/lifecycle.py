"""Applies per second through the lifecycle core, on SQLite and PostgreSQL:
one transaction per apply; 50 applies sharing a transaction; and apply_batch, which applies 50
with a handful of set-based statements (the callback route's path).

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
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.seed import AMOUNT, seed_payments
from payments.base import PaymentResult, PaymentStatus
from payments.orders import Shop
from payments.ports import Recipient
from payments.service import BatchItem, apply_batch, apply_result
from storage.db import make_engine, make_sessions, transaction, upgrade
from storage.models import Payment
from storage.repo import store_transaction

NOW = datetime.now(UTC)
SHOP = Shop(currency="IDR", merchants=(Recipient("telegram", "1"),))
MODES = ("one per transaction", "50 per transaction", "apply_batch of 50")


async def prepare(url: str, count: int) -> list[int]:
    """`count` pending payments (bulk-inserted: the set-up is not what is measured)."""
    await upgrade(url)
    refs = await seed_payments(url, "sandbox", count)
    engine = make_engine(url)
    async with transaction(make_sessions(engine)) as session:
        wanted = [ref for ref, _ in refs]
        rows = await session.execute(
            select(Payment.id, Payment.reference).where(Payment.reference.in_(wanted))
        )
        ids = []
        for row in rows:
            REFERENCES[row.id] = row.reference
            ids.append(row.id)
    await engine.dispose()
    return ids


async def run(url: str, ids: list[int], mode: str) -> float:
    engine = make_engine(url)
    sessions = make_sessions(engine)
    batch = 1 if mode == MODES[0] else 50
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        async with store_transaction(sessions) as store:
            if mode == MODES[2]:
                await apply_batch(store, SHOP, [_item(pid) for pid in chunk], now=NOW)
                continue
            for payment_id in chunk:
                await apply_result(
                    store,
                    SHOP,
                    payment_id,
                    _paid(None),
                    source="poll",
                    now=NOW,
                    dedupe_key=f"bench:{payment_id}",
                )
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return len(ids) / elapsed


def _paid(reference: str | None) -> PaymentResult:
    return PaymentResult(reference, "ext", PaymentStatus.PAID, amount=AMOUNT, raw_status="paid")


def _item(payment_id: int) -> BatchItem:
    return BatchItem("sandbox", _paid(REFERENCES[payment_id]), dedupe_key=f"bench:{payment_id}")


REFERENCES: dict[int, str] = {}


async def measure(name: str, url: str, count: int, runs: int) -> None:
    figures: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(runs):
        for mode in MODES:
            if url.startswith("sqlite"):
                url = url.rsplit("/", 1)[0] + f"/bench-{len(figures[mode])}-{MODES.index(mode)}.db"
            ids = await prepare(url, count)
            figures[mode].append(await run(url, ids, mode))
    medians = {mode: statistics.median(values) for mode, values in figures.items()}
    base = medians[MODES[0]]
    shown = "   ".join(f"{m}: {v:6.0f}/s ({v / base:4.1f}x)" for m, v in medians.items())
    print(f"{name:<10} {shown}   (median of {runs}, {count} payments)")


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
