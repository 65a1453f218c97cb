"""The cost of one poller tick over many pending payments, 1% of them due (bench/reconcile.py)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from random import Random
from typing import ClassVar

from sqlalchemy import text, update

from bench.seed import seed_payments
from bot.config import Config
from bot.scheduler import make_context, make_reconciler
from payments.base import Checkout, MethodId, PaymentRef, PaymentResult, PaymentStatus
from storage.db import Sessions, make_engine, make_sessions, transaction, upgrade
from storage.models import Payment
from storage.reconcile_repo import reconcile_transaction


class Silent:
    """A gateway that never answers in time (so a tick's own cost is all that is measured)."""

    name: ClassVar[str] = "sandbox"
    confirm_paid_by_query: ClassVar[bool] = False

    def __init__(self, answer: bool) -> None:
        self.answer = answer

    def supports(self, method: MethodId) -> bool:
        return True

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        raise NotImplementedError

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        if not self.answer:
            await asyncio.Event().wait()
        return PaymentResult(ref.reference, None, PaymentStatus.PENDING)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        return None

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        raise NotImplementedError


async def tick_cost(url: str, pending: int, reps: int) -> dict[str, float]:
    """Median ms: a scheduler tick as configured; claiming all that is due in one statement;
    and per due payment, the whole check (claim, ask an instant gateway, apply, reschedule)."""
    await _empty(url)
    now = datetime.now(UTC)
    due = max(1, pending // 100)
    await seed_payments(url, "sandbox", pending - due, next_check_at=now + timedelta(hours=12))
    seeded = await seed_payments(url, "sandbox", due, next_check_at=now - timedelta(seconds=1))
    due_refs = [reference for reference, _ in seeded]
    engine = make_engine(url)
    sessions = make_sessions(engine)
    uow = lambda: reconcile_transaction(sessions)  # noqa: E731
    lease = now + timedelta(minutes=2)
    out: dict[str, list[float]] = {"tick": [], "claim all due": [], "check, per due": []}
    try:
        for _ in range(reps):
            ctx = make_context(Config(), uow, {"sandbox": Silent(False)}, lambda: now, Random(1))
            poller = make_reconciler(Config(), ctx)
            started = time.perf_counter()
            await poller.tick()
            out["tick"].append(time.perf_counter() - started)
            await poller.close(grace=0)
            await _due_again(sessions, due_refs, now)
            started = time.perf_counter()
            async with uow() as store:
                claimed = await store.reconcile.claim_due(now, lease, due)
            out["claim all due"].append(time.perf_counter() - started)
            assert len(claimed) == due
            await _due_again(sessions, due_refs, now)
        ctx = make_context(Config(), uow, {"sandbox": Silent(True)}, lambda: now, Random(1))
        poller = make_reconciler(Config(), ctx)
        started = time.perf_counter()
        while await poller.run_due():
            pass
        out["check, per due"].append((time.perf_counter() - started) / due)
        await poller.close()
    finally:
        await engine.dispose()
    return {k: 1000 * statistics.median(v) for k, v in out.items()}


async def _due_again(sessions: Sessions, references: list[str], now: datetime) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            update(Payment)
            .where(Payment.reference.in_(references))
            .values(next_check_at=now - timedelta(seconds=1))
        )


async def _empty(url: str) -> None:
    if not url.startswith("sqlite"):
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await upgrade(url)
