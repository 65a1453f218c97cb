"""Several instances, one database: leases make each due payment asked about exactly once.

Three reconcilers, each with its own engine (its own connections, as three processes would
have), claim from 500 due payments at the same time. On PostgreSQL this is FOR UPDATE SKIP
LOCKED at work; SQLite, one writer at a time, must give the same answer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from random import Random
from typing import ClassVar

import pytest
from sqlalchemy import func, select

from bot.catalog.spec import parse_catalog
from bot.catalog.sync import sync_catalog
from payments.attempts import begin_attempt
from payments.base import (
    Checkout,
    MethodId,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
)
from payments.orders import CartLine, Delivery, Shop, place_order
from payments.reconcile.checks import ReconcileContext
from payments.reconcile.poller import Limits, Reconciler
from payments.reconcile.throttle import Rules, Throttle
from storage.db import Sessions, make_engine, make_sessions, transaction
from storage.models import Payment
from storage.reconcile_repo import reconcile_transaction
from tests.conftest import NOW, UnitOfWork, add_customer

PAYMENTS = 500
METHOD = MethodId.parse("sandbox:va:bca")
CATALOG = parse_catalog({"products": [{"sku": "X", "name": "X", "price": 1000}]}, "IDR", "t")


class PendingGateway:
    """A gateway at which nobody pays; it counts the status queries it is asked."""

    name: ClassVar[str] = "sandbox"
    confirm_paid_by_query: ClassVar[bool] = False

    def __init__(self) -> None:
        self.queries: Counter[str] = Counter()

    def supports(self, method: MethodId) -> bool:
        return True

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        raise NotImplementedError

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        self.queries[ref.reference] += 1
        await asyncio.sleep(0)  # let the other instances in between
        return PaymentResult(ref.reference, None, PaymentStatus.PENDING, raw_status="PENDING")

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        return None

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        raise NotImplementedError


@pytest.fixture
async def due_payments(sessions: Sessions, uow: UnitOfWork, shop: Shop) -> list[int]:
    async with transaction(sessions) as session:
        await sync_catalog(session, CATALOG, "IDR", update_existing=True)
    customer = await add_customer(sessions)
    ids: list[int] = []
    for _ in range(PAYMENTS // 100):
        async with uow() as store:
            for _one in range(100):
                order = await place_order(
                    store,
                    shop,
                    customer_id=customer,
                    cart=[CartLine("X", 1)],
                    delivery=Delivery(),
                    now=NOW,
                )
                attempt = await begin_attempt(
                    store, order.code, METHOD, expiry=timedelta(hours=24), now=NOW
                )
                ids.append(attempt.payment_id)
    return ids


class Clock:
    def __init__(self) -> None:
        self.now = NOW + timedelta(seconds=31)  # every first check is due

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def instances(db_url: str, shop: Shop) -> AsyncIterator[list[Reconciler]]:
    engines = [make_engine(db_url, pool_size=4) for _ in range(3)]
    gateway = PendingGateway()
    clock = Clock()
    found = []
    for number, engine in enumerate(engines):
        sessions = make_sessions(engine)
        ctx = ReconcileContext(
            lambda s=sessions: reconcile_transaction(s),  # type: ignore[misc]
            shop,
            {"sandbox": gateway},
            clock,
            throttle=Throttle(default=Rules(per_minute=10**6)),
            random=Random(number),
        )
        found.append(Reconciler(ctx, Limits(batch=25, concurrency=50, gateway_concurrency=50)))
    yield found
    for instance in found:
        await instance.close()
    for engine in engines:
        await engine.dispose()


async def drain(instance: Reconciler) -> int:
    claimed = 0
    while batch := await instance.run_due():
        claimed += batch
    return claimed


async def test_three_instances_ask_about_each_due_payment_exactly_once_per_due_time(
    instances: list[Reconciler], due_payments: list[int], sessions: Sessions
) -> None:
    gateway = instances[0].ctx.gateways["sandbox"]
    assert isinstance(gateway, PendingGateway)
    clock = instances[0].ctx.clock
    assert isinstance(clock, Clock)
    for round_ in (1, 2):
        claimed = await asyncio.gather(*(drain(instance) for instance in instances))
        assert sum(claimed) == PAYMENTS
        assert len(gateway.queries) == PAYMENTS
        assert set(gateway.queries.values()) == {round_}
        async with transaction(sessions) as session:
            counts = await session.execute(
                select(Payment.check_count, func.count()).group_by(Payment.check_count)
            )
            assert dict(counts.tuples().all()) == {round_: PAYMENTS}
            due = await session.scalar(select(func.min(Payment.next_check_at)))
        assert due is not None and due > clock.now
        clock.now = due + timedelta(minutes=2)  # the next check of every one of them
