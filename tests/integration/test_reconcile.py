"""The poller on the whole app, with the sandbox gateway over real HTTP and every callback lost.

Time is the app's injected clock, turned by hand; the poller runs either as the real
APScheduler job or by hand (`run_due`) where a test needs to know when a check happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, text, update

from bot.app import create_app
from bot.runtime import RUNTIME, Runtime, utcnow
from bot.scheduler import (
    check_status,
    reconciler,
    scheduler_running,
)
from payments.base import (
    Checkout,
    Gateway,
    GatewayUnavailable,
    MethodId,
    PaymentRef,
    PaymentResult,
)
from payments.ports import PaymentRow
from payments.reconcile.poller import Reconciler
from storage.db import transaction
from storage.models import Customer, Outbox, Payment, PaymentEvent
from storage.reconcile_repo import ReconcileRepo
from tests.conftest import (
    SANDBOX_SECRET,
    Running,
    add_customer,
    free_port,
    make_config,
    new_order,
    status_queries,
)

SECRET = SANDBOX_SECRET


class Clock:
    """The app's clock, turned by hand. It starts at the real now: the sandbox provider keeps
    real time, and accepts only expiries in its future."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class CountingGateway:
    """The sandbox adapter, counting status queries; `down` makes it answer like a 503."""

    name: ClassVar[str] = "sandbox"
    confirm_paid_by_query: ClassVar[bool] = False

    def __init__(self, inner: Gateway) -> None:
        self.inner = inner
        self.queries: Counter[str] = Counter()
        self.down = False

    def supports(self, method: MethodId) -> bool:
        return self.inner.supports(method)

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        return await self.inner.create_payment(checkout)

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        self.queries[ref.reference] += 1
        if self.down:
            raise GatewayUnavailable(self.name, f"GET {ref.reference}: HTTP 503")
        return await self.inner.fetch_status(ref)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        return await self.inner.cancel_payment(ref)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        return self.inner.parse_callback(headers, body)


@dataclass
class Harness:
    running: Running
    app: web.Application
    clock: Clock

    @property
    def runtime(self) -> Runtime:
        return self.running.runtime

    @property
    def poller(self) -> Reconciler:
        return reconciler(self.app)

    def counting(self) -> CountingGateway:
        gateway = CountingGateway(self.runtime.gateways["sandbox"])
        self.runtime.gateways["sandbox"] = gateway  # the routes and the poller share this map
        return gateway

    async def start(
        self, method: str = "sandbox:va:bca", chat_id: str = "1001", phone: str | None = None
    ) -> PaymentRow:
        sessions = self.runtime.sessions
        assert sessions is not None
        customer = await add_customer(sessions, chat_id)
        if phone is not None:
            async with transaction(sessions) as session:
                await session.execute(
                    update(Customer).where(Customer.id == customer).values(phone=phone)
                )
        code = await new_order(self.runtime.uow, self.runtime.shop, customer, now=self.clock())
        return await self.runtime.start_payment(code, MethodId.parse(method))

    def pay(self, reference: str) -> None:
        """The customer pays; the gateway's callback is lost (drop_share = 1)."""
        provider = self.runtime.sandbox
        assert provider is not None
        found = provider.find(reference)
        assert found is not None
        provider.act(found, "pay")

    async def rows(self, statement: Any) -> list[Any]:
        assert self.runtime.sessions is not None
        async with transaction(self.runtime.sessions) as session:
            return list((await session.execute(statement)).all())

    async def outbox(self) -> list[str]:
        return sorted(kind for (kind,) in await self.rows(select(Outbox.kind)))

    async def status(self, payment_id: int) -> str:
        [(status,)] = await self.rows(select(Payment.status).where(Payment.id == payment_id))
        return str(status)

    async def run_until_idle(self, until: datetime) -> None:
        """Run the poller by hand, jumping the clock from one due check to the next."""
        while True:
            await self.poller.run_due()
            assert self.runtime.sessions is not None
            async with transaction(self.runtime.sessions) as session:
                due = await ReconcileRepo(session).next_due_at()
            if due is None or due > until:
                return
            self.clock.now = max(self.clock.now, due)


async def open_shop(
    aiohttp_server: Any,
    db_url: str,
    *,
    poller: bool = False,
    reconcile: Mapping[str, Any] | None = None,
    **sandbox: Any,
) -> Harness:
    """The whole app with every callback dropped; the scheduler's jobs run when `poller`."""
    clock = Clock()
    config = make_config(db_url, free_port(), drop_share=1.0, **sandbox)
    settings = replace(config.reconcile, enabled=poller, **(reconcile or {}))
    config = replace(config, reconcile=settings)
    app = create_app(config, clock=clock)
    server = await aiohttp_server(app, port=config.server.port)
    return Harness(Running(server, app[RUNTIME]), app, clock)


async def late_callback(h: Harness, http: aiohttp.ClientSession, reference: str) -> int:
    """The callback the gateway "lost" turns up after all, signed as the sandbox signs it."""
    assert h.runtime.sandbox is not None
    body = json.dumps(
        h.runtime.sandbox.payments[reference].callback_json(), separators=(",", ":")
    ).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Sandbox-Signature": signature}
    async with http.post(h.running.url("/callbacks/sandbox"), data=body, headers=headers) as r:
        return r.status


async def eventually(check: Any, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so after {seconds}s")


@pytest.mark.parametrize(
    "method", ["sandbox:va:bca", "sandbox:qris", "sandbox:link", "sandbox:ussd"]
)
async def test_with_every_callback_lost_the_poller_confirms_each_method_exactly_once(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, method: str
) -> None:
    h = await open_shop(aiohttp_server, db_url, poller=True)
    assert scheduler_running(h.app)
    payment = await h.start(method, phone="255712345678")
    h.pay(payment.reference)
    h.clock.advance(seconds=31)  # the first check is due; the scheduler's next tick takes it

    async def paid() -> bool:
        return await h.status(payment.id) == "paid"

    await eventually(paid)
    assert await late_callback(h, http, payment.reference) == 200
    assert await h.outbox() == ["order_paid", "payment_paid"]
    events = await h.rows(select(PaymentEvent.source, PaymentEvent.outcome))
    assert ("poll", "applied") in events and ("callback", "duplicate") in events


async def test_the_jobs_stay_off_when_reconcile_is_disabled_but_check_status_works(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url, poller=False)
    assert not scheduler_running(h.app)
    payment = await h.start()
    h.pay(payment.reference)
    assert (await check_status(h.app, payment.id)).status == "paid"


async def test_check_status_asks_the_gateway_at_most_once_per_10_seconds_per_payment(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    gateway = h.counting()
    payment = await h.start()
    first = await check_status(h.app, payment.id)
    assert first.asked and first.status == "pending"
    h.pay(payment.reference)
    h.clock.advance(seconds=9)
    again = await check_status(h.app, payment.id)
    assert not again.asked and again.status == "pending" and again.retry_in == pytest.approx(1)
    assert gateway.queries[payment.reference] == 1
    h.clock.advance(seconds=1)
    assert h.runtime.check_status is not None
    third = await h.runtime.check_status(payment.id)  # the chat's way in
    assert third.asked and third.changed and third.status == "paid"
    assert gateway.queries[payment.reference] == 2
    assert await h.outbox() == ["order_paid", "payment_paid"]
    settled = await check_status(h.app, payment.id)
    assert not settled.asked and settled.status == "paid" and settled.retry_in is None


async def test_a_customer_back_in_the_chat_has_their_payment_checked_by_the_next_tick(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    gateway = h.counting()
    payment = await h.start(chat_id="1001")
    h.pay(payment.reference)
    assert await h.poller.run_due() == 0  # its first check is 30 s away
    [(customer,)] = await h.rows(select(Customer.id).where(Customer.channel_user_id == "1001"))
    assert h.runtime.customer_back is not None
    assert await h.runtime.customer_back(customer) == 1
    assert await h.poller.run_due() == 1
    assert gateway.queries[payment.reference] == 1
    assert await h.status(payment.id) == "paid"
    assert (await status_queries(h.running))[("sandbox", "poller", "answered")] == 1


async def test_a_long_lived_va_gets_one_reminder_an_hour_before_it_expires(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    payment = await h.start()
    assert payment.expires_at is not None
    await h.run_until_idle(until=payment.expires_at - timedelta(minutes=30))
    assert await h.outbox() == ["payment_reminder"]
    [(payload,)] = await h.rows(select(Outbox.payload))
    assert payload["reference"] == payment.reference and payload["language"] == "id"
    await h.run_until_idle(until=payment.expires_at - timedelta(minutes=1))
    assert await h.outbox() == ["payment_reminder"]


async def test_a_payment_found_paid_gets_no_reminder(aiohttp_server: Any, db_url: str) -> None:
    h = await open_shop(aiohttp_server, db_url)
    payment = await h.start("sandbox:link")
    assert payment.expires_at is not None
    h.pay(payment.reference)
    await h.run_until_idle(until=payment.expires_at)
    assert await h.outbox() == ["order_paid", "payment_paid"]


async def test_a_ussd_push_still_pending_after_a_minute_gets_one_didnt_get_the_prompt(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    payment = await h.start("sandbox:ussd", phone="255712345678")
    await h.run_until_idle(until=h.clock() + timedelta(seconds=50))
    assert await h.outbox() == []
    await h.run_until_idle(until=h.clock() + timedelta(minutes=3))
    assert await h.outbox() == ["payment_no_prompt"]
    [(payload,)] = await h.rows(select(Outbox.payload))
    assert payload["method"] == "sandbox:ussd" and payload["payment_id"] == payment.id


async def test_the_claim_reads_only_due_payments_through_the_next_check_index(
    aiohttp_server: Any, db_url: str, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL picks by table size")
    h = await open_shop(aiohttp_server, db_url)
    assert h.runtime.sessions is not None
    async with transaction(h.runtime.sessions) as session:
        plan = await session.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT id FROM payments WHERE next_check_at IS NOT NULL "
                "AND next_check_at <= :now ORDER BY next_check_at LIMIT 200"
            ),
            {"now": "2026-01-01 00:00:00"},
        )
        details = " ".join(str(row[-1]) for row in plan)
    assert "ix_payments_due" in details and "SCAN payments" not in details
