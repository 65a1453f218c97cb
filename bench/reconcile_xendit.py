"""Xendit in bench/reconcile.py's simulation: the real adapter over HTTP to FakeXendit.

SimGateway (bench/reconcile_sim.py) answers from a plan in memory; this answers through
XenditGateway, so the poller's queries cross the adapter, real HTTP and the fake's contract.
The fake is steered from the same plan on the simulated clock just before each query, so the
figures compare with the sandbox's while every status read is Xendit's own wire format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from payments.base import (
    Checkout,
    Customer,
    MethodId,
    PaymentRef,
    PaymentResult,
)
from payments.gateways.xendit.adapter import XenditGateway
from tests.gateways.xendit.fake import FakeXendit

KEY, TOKEN = "xnd_development_BENCH", "xnd-bench-callback-token"
METHODS = {"va": "xendit:va:bca", "qris": "xendit:qris", "link": "xendit:link"}


class XenditSim:
    """The adapter and its fake on 127.0.0.1, paid at planned times; every callback lost."""

    name: ClassVar[str] = "xendit"
    confirm_paid_by_query: ClassVar[bool] = True

    def __init__(self, clock: Callable[[], datetime], life: timedelta) -> None:
        self.clock, self.life = clock, life
        self.fake = FakeXendit(KEY, TOKEN)
        self.paid_at: dict[str, datetime | None] = {}
        self.expires_at: dict[str, datetime] = {}
        self.queries: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.inner: XenditGateway | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.fake.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession()
        self.inner = XenditGateway(
            self._http, base_url=f"http://127.0.0.1:{port}", secret_key=KEY, callback_token=TOKEN
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def create(self, reference: str, method: str, amount: int) -> str | None:
        """Create at the fake as the app would; Xendit's id for the payment row."""
        assert self.inner is not None
        now = self.clock()
        checkout = Checkout(
            reference, amount, "IDR", MethodId.parse(method), Customer("Bench"), "bench",
            now + self.life, "http://127.0.0.1/callbacks/xendit",
        )  # fmt: skip
        return (await self.inner.create_payment(checkout)).external_id

    def plan(self, reference: str, created: datetime, paid_after: float | None) -> None:
        self.expires_at[reference] = created + self.life
        paid = None if paid_after is None else created + timedelta(seconds=paid_after)
        self.paid_at[reference] = paid

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        raise NotImplementedError  # the simulation creates through create()

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        assert self.inner is not None
        self.queries[ref.reference] += 1
        self._steer(ref.reference)
        return await self.inner.fetch_status(ref)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        assert self.inner is not None
        self._steer(ref.reference)
        return await self.inner.cancel_payment(ref)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        raise NotImplementedError  # every callback is lost

    def _steer(self, reference: str) -> None:
        """The fake's state at the simulated now: paid once planned, expired after its life."""
        item: dict[str, Any] = self.fake.object(reference)
        paid, now = self.paid_at[reference], self.clock()
        if item["status"] in ("PENDING", "REQUIRES_ACTION"):
            if paid is not None and paid <= now:
                self.fake.pay(reference)
            elif now >= self.expires_at[reference]:
                self.fake.set_status(reference, "EXPIRED")
