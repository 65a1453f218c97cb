"""M-Pesa in bench/reconcile.py's simulation: the real adapter over HTTP to FakeDaraja.

Like bench/reconcile_xendit.py for Xendit: USSD pushes are M-Pesa's, created at the fake as
the app creates them, and each of the poller's STK queries crosses the adapter (OAuth token
cache included), real HTTP and the fake's contract. The fake is steered from the plan on the
simulated clock just before each query: approved at the planned time, and a prompt never
approved ends as Daraja ends it, 1037 ("user cannot be reached") after PROMPT_LIFE.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import ClassVar

import aiohttp
from aiohttp import web

from payments.base import Checkout, Customer, MethodId, PaymentRef, PaymentResult
from payments.gateways.mpesa.adapter import MpesaGateway
from tests.gateways.mpesa.fake import FakeDaraja

KEY, SECRET, SHORTCODE, PASSKEY = "bench-key", "bench-secret", "174379", "bench-passkey"
METHODS = {"ussd": "mpesa:ussd"}
PROMPT_LIFE = timedelta(seconds=90)  # about how long Daraja waits for the PIN (UNCONFIRMED)


class MpesaSim:
    """The adapter and its fake on 127.0.0.1, approved at planned times; every callback lost."""

    name: ClassVar[str] = "mpesa"
    confirm_paid_by_query: ClassVar[bool] = True

    def __init__(self, clock: Callable[[], datetime], life: timedelta) -> None:
        self.clock, self.life = clock, life
        self.fake = FakeDaraja(KEY, SECRET, SHORTCODE, PASSKEY)
        self.paid_at: dict[str, datetime | None] = {}
        self.created_at: dict[str, datetime] = {}
        self.queries: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.inner: MpesaGateway | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.fake.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession()
        self.inner = MpesaGateway(
            self._http,
            base_url=f"http://127.0.0.1:{port}",
            consumer_key=KEY,
            consumer_secret=SECRET,
            shortcode=SHORTCODE,
            passkey=PASSKEY,
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def create(self, reference: str, method: str, amount: int) -> str | None:
        """Push at the fake as the app would (the simulated shop's amount taken as shillings);
        Daraja's CheckoutRequestID for the payment row."""
        assert self.inner is not None
        who = Customer("Bench", "+254712345678")
        checkout = Checkout(
            reference, amount * 100, "KES", MethodId.parse(method), who, "bench",
            self.clock() + self.life, "http://127.0.0.1/callbacks/mpesa",
        )  # fmt: skip
        return (await self.inner.create_payment(checkout)).external_id

    def plan(self, reference: str, created: datetime, paid_after: float | None) -> None:
        self.created_at[reference] = created
        paid = None if paid_after is None else created + timedelta(seconds=paid_after)
        self.paid_at[reference] = paid

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        raise NotImplementedError  # the simulation creates through create()

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """The adapter's answer; its currency left out: the simulated shop sells in IDR, and
        the currency check is not what this measures."""
        assert self.inner is not None
        self.queries[ref.reference] += 1
        self._steer(ref.reference)
        return replace(await self.inner.fetch_status(ref), currency=None)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        return None

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        raise NotImplementedError  # every callback is lost

    def _steer(self, reference: str) -> None:
        push, paid, now = self.fake.push(reference), self.paid_at[reference], self.clock()
        if push["result"] is None:
            if paid is not None and paid <= now:
                self.fake.pay(reference)
            elif now >= self.created_at[reference] + PROMPT_LIFE:
                self.fake.set_status(reference, "1037")
