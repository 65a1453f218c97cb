"""The simulation behind bench/reconcile.py: seeded arrivals, a gateway that is paid at
planned times and loses every callback, and the app's own poller on a clock that jumps from one
tick (a whole second) to the next one with work."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from statistics import NormalDist
from typing import ClassVar

from sqlalchemy import select, update

from bench.reconcile_clickpesa import ClickPesaSim
from bench.reconcile_mpesa import METHODS as MPESA_METHODS
from bench.reconcile_mpesa import MpesaSim
from bench.reconcile_xendit import METHODS as XENDIT_METHODS
from bench.reconcile_xendit import XenditSim
from bot.catalog.spec import parse_catalog
from bot.catalog.sync import sync_catalog
from bot.config import Config
from bot.scheduler import make_context, make_reconciler
from payments.attempts import begin_attempt
from payments.base import Checkout, MethodId, PaymentRef, PaymentResult, PaymentStatus
from payments.orders import CartLine, Delivery, Shop, place_order
from payments.reconcile.checks import ReconcileContext
from payments.reconcile.schedule import Timeline, first_check_at
from storage.db import Sessions, make_engine, make_sessions, transaction
from storage.models import Customer, Payment
from storage.reconcile_repo import ReconcileRepo, reconcile_transaction

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LIFE = timedelta(hours=24)
KINDS = ("ussd", "va", "qris", "link")
METHODS = {
    "ussd": "sandbox:ussd",
    "va": "sandbox:va:bca",
    "qris": "sandbox:qris",
    "link": "sandbox:link",
}
SHOP = Shop(currency="IDR")
CATALOG = parse_catalog({"products": [{"sku": "X", "name": "X", "price": 1000}]}, "IDR", "bench")


@dataclass(frozen=True)
class Arrival:
    kind: str
    created: float  # seconds after T0
    paid_after: float | None  # seconds after creation; None: never


def arrivals(per_method: int, rnd: Random) -> list[Arrival]:
    mu = _lognormal_mu(median=240, sigma=0.9, cap=900)
    found = []
    for kind in KINDS:
        for _ in range(per_method):
            created = rnd.uniform(0, 3600)
            found.append(Arrival(kind, created, _paid_after(kind, rnd, mu)))
    return sorted(found, key=lambda a: a.created)


def _paid_after(kind: str, rnd: Random, mu: float) -> float | None:
    roll = rnd.random()
    if kind == "ussd":
        return rnd.uniform(5, 60) if roll < 0.85 else None
    if roll < 0.70:  # lognormal cut at 15 min, placed so that its median is 4 min
        top = NormalDist().cdf((math.log(900) - mu) / 0.9)
        return math.exp(mu + 0.9 * NormalDist().inv_cdf(rnd.uniform(1e-9, top)))
    if roll < 0.90:
        return math.exp(rnd.uniform(math.log(900), math.log(20 * 3600)))
    return None


def _lognormal_mu(*, median: float, sigma: float, cap: float) -> float:
    low, high = math.log(10), math.log(cap)
    for _ in range(60):
        mu = (low + high) / 2
        top = NormalDist().cdf((math.log(cap) - mu) / sigma)
        low, high = (
            (mu, high)
            if mu + sigma * NormalDist().inv_cdf(top / 2) < math.log(median)
            else (low, mu)
        )
    return mu


class SimGateway:
    """A gateway whose payments are paid at planned times; every callback is lost."""

    name: ClassVar[str] = "sandbox"
    confirm_paid_by_query: ClassVar[bool] = False

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.paid_at: dict[str, datetime | None] = {}
        self.expires_at: dict[str, datetime] = {}
        self.queries: Counter[str] = Counter()
        self.cancelled: set[str] = set()

    def plan(self, reference: str, created: datetime, paid_after: float | None) -> None:
        self.expires_at[reference] = created + LIFE
        paid = None if paid_after is None else created + timedelta(seconds=paid_after)
        self.paid_at[reference] = paid

    def supports(self, method: MethodId) -> bool:
        return True

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        raise NotImplementedError

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        self.queries[ref.reference] += 1
        return PaymentResult(ref.reference, None, self._status(ref.reference))

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        status = self._status(ref.reference)
        if status is PaymentStatus.PENDING:
            self.cancelled.add(ref.reference)
            status = PaymentStatus.CANCELLED
        return PaymentResult(ref.reference, None, status)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        raise NotImplementedError

    def _status(self, reference: str) -> PaymentStatus:
        now, paid = self.clock(), self.paid_at[reference]
        if reference in self.cancelled:
            return PaymentStatus.CANCELLED
        if paid is not None and paid <= now:
            return PaymentStatus.PAID
        if now >= self.expires_at[reference]:
            return PaymentStatus.EXPIRED
        return PaymentStatus.PENDING


class SimClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Seen:
    """One payment under one strategy."""

    kind: str
    paid_after: float | None
    confirmed_after: float | None
    queries: int


async def simulate(
    url: str,
    plan: list[Arrival],
    seed: int,
    *,
    xendit: bool = False,
    clickpesa_calls: Counter[str] | None = None,
    mpesa: bool = False,
) -> list[Seen]:
    """The app's poller over `plan`, on a migrated database. With `xendit`, VA, QRIS and link
    payments are Xendit's, asked through its adapter and fake (bench/reconcile_xendit.py);
    with `clickpesa_calls` USSD pushes are ClickPesa's (bench/reconcile_clickpesa.py), in a
    TZS shop, and every call its fake answered is counted there by kind; with `mpesa`, USSD
    pushes are M-Pesa's (bench/reconcile_mpesa.py)."""
    engine = make_engine(url)
    sessions = make_sessions(engine)
    clock = SimClock()
    gateway = SimGateway(clock)
    sim = XenditSim(clock, LIFE) if xendit else None
    msim = MpesaSim(clock, LIFE) if mpesa else None
    gateways: dict[str, SimGateway | XenditSim | ClickPesaSim | MpesaSim] = {"sandbox": gateway}
    if sim is not None:
        await sim.start()
        gateways["xendit"] = sim
    if msim is not None:
        await msim.start()
        gateways["mpesa"] = msim
    methods = METHODS | (XENDIT_METHODS if xendit else {}) | (MPESA_METHODS if mpesa else {})
    clickpesa = ClickPesaSim(clock) if clickpesa_calls is not None else None
    if clickpesa is not None:
        await clickpesa.start()
        gateways["clickpesa"] = clickpesa
        methods = methods | {"ussd": "clickpesa:ussd"}
    shop = Shop(currency="TZS") if clickpesa is not None else SHOP
    ctx = make_context(
        Config(),
        lambda: reconcile_transaction(sessions),
        gateways,  # type: ignore[arg-type]
        clock,
        Random(seed),
    )
    poller = make_reconciler(Config(), ctx)
    customer = await _prepare(sessions, shop.currency)
    made: dict[str, Arrival] = {}
    waiting = list(plan)
    last_tick = T0 - timedelta(seconds=1)
    try:
        while True:
            async with transaction(sessions) as session:
                due = await ReconcileRepo(session).next_due_at()
            tick = None if due is None else _next_tick(max(due, last_tick + timedelta(seconds=1)))
            arrives = T0 + timedelta(seconds=waiting[0].created) if waiting else None
            if arrives is not None and (tick is None or arrives < tick):
                clock.now = arrives
                arrival = waiting.pop(0)
                method = methods[arrival.kind]
                reference = await _create(sessions, customer, method, ctx, shop)
                owner = gateways[MethodId.parse(method).gateway]
                owner.plan(reference, clock.now, arrival.paid_after)
                if owner is sim or owner is msim:
                    await _create_at_xendit(sessions, owner, reference, method)  # type: ignore[arg-type]
                if clickpesa is not None and owner is clickpesa:
                    await _create_at_clickpesa(sessions, clickpesa, reference)
                made[reference] = arrival
            elif tick is not None:
                clock.now = last_tick = tick
                await poller.run_due()
            else:
                sims = [s for s in (sim, clickpesa, msim) if s is not None]
                return await _seen(sessions, made, [gateway, *sims])
    finally:
        await poller.close()
        await engine.dispose()
        for each in (sim, msim):
            if each is not None:
                await each.close()
        if clickpesa is not None and clickpesa_calls is not None:
            clickpesa_calls.update(clickpesa.calls())
            await clickpesa.close()


def _next_tick(when: datetime) -> datetime:
    """Ticks come every whole second after T0."""
    return T0 + timedelta(seconds=math.ceil((when - T0).total_seconds()))


async def _prepare(sessions: Sessions, currency: str = "IDR") -> int:
    async with transaction(sessions) as session:
        await sync_catalog(session, CATALOG, currency, update_existing=True)
        customer = Customer(channel="telegram", channel_user_id="1", language="id")
        session.add(customer)
        await session.flush()
        return customer.id


async def _create(
    sessions: Sessions, customer: int, method_id: str, ctx: ReconcileContext, shop: Shop = SHOP
) -> str:
    """An order and its payment at the arrival's time, as the app makes them.

    The first check follows the method's schedule (15 s for a USSD push, 30 s for the rest):
    begin_attempt still plans every first check at 30 s, which the report asks to change.
    """
    now = ctx.clock()
    method = MethodId.parse(method_id)
    cart = [CartLine("X", 1)]
    async with reconcile_transaction(sessions) as store:
        order = await place_order(
            store, shop, customer_id=customer, cart=cart, delivery=Delivery(), now=now
        )
        attempt = await begin_attempt(store, order.code, method, expiry=LIFE, now=now)
        first = first_check_at(ctx.policy, Timeline(method.kind, now, now + LIFE), ctx.random)
        await store.session.execute(
            update(Payment).where(Payment.id == attempt.payment_id).values(next_check_at=first)
        )
    return attempt.reference


async def _create_at_xendit(
    sessions: Sessions, sim: XenditSim | MpesaSim, reference: str, method: str
) -> None:
    """The payment at Xendit's (or M-Pesa's) fake, its id kept on the row as the app keeps it."""
    async with transaction(sessions) as session:
        amount = await session.scalar(select(Payment.amount).where(Payment.reference == reference))
    external_id = await sim.create(reference, method, int(amount or 0))
    async with transaction(sessions) as session:
        await session.execute(
            update(Payment).where(Payment.reference == reference).values(external_id=external_id)
        )


async def _create_at_clickpesa(sessions: Sessions, sim: ClickPesaSim, reference: str) -> None:
    """The push at ClickPesa's fake, its id kept on the row as the app keeps it."""
    async with transaction(sessions) as session:
        amount = await session.scalar(select(Payment.amount).where(Payment.reference == reference))
    external_id = await sim.create(reference, int(amount or 0))
    async with transaction(sessions) as session:
        await session.execute(
            update(Payment).where(Payment.reference == reference).values(external_id=external_id)
        )


async def _seen(
    sessions: Sessions,
    made: dict[str, Arrival],
    gateways: list[SimGateway | XenditSim | ClickPesaSim | MpesaSim],
) -> list[Seen]:
    async with transaction(sessions) as session:
        rows = await session.execute(
            select(Payment.reference, Payment.paid_at, Payment.created_at)
        )
    found = []
    for reference, paid_at, created_at in rows:
        arrival = made[reference]
        confirmed = None if paid_at is None else (paid_at - created_at).total_seconds()
        queries = sum(g.queries[reference] for g in gateways)
        found.append(Seen(arrival.kind, arrival.paid_after, confirmed, queries))
    return found


def baseline(plan: list[Arrival], times: list[int]) -> list[Seen]:
    found = []
    for a in plan:
        hits = [i for i, t in enumerate(times) if a.paid_after is not None and t >= a.paid_after]
        if hits:
            found.append(Seen(a.kind, a.paid_after, times[hits[0]], hits[0] + 1))
        else:
            found.append(Seen(a.kind, a.paid_after, None, len(times)))
    return found
