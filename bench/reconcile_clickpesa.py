"""ClickPesa in bench/reconcile.py's simulation: USSD pushes through the real adapter over HTTP
to FakeClickPesa, every webhook lost.

Like bench/reconcile_xendit.py for VA/QRIS/links: the fake is steered from the plan on the
simulated clock just before each query (SUCCESS once the planned approval time has passed,
FAILED for an unanswered prompt after two minutes, as ClickPesa ends one), and the adapter's
token clock is the simulated one, so its hourly token shows in the call count. Every call the
fake answered (token, preview, initiate, status) is counted for ClickPesa's pre-KYC budget of
100 calls a day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import ClassVar

import aiohttp
from aiohttp import web

from payments.base import Checkout, Customer, MethodId, PaymentRef, PaymentResult
from payments.gateways.clickpesa.adapter import ClickPesaGateway
from tests.gateways.clickpesa.fake import CLIENT_ID, FakeClickPesa

KEY, CHECKSUM = "SKbenchCLICKPESAkey", "bench-checksum-key"
METHOD = "clickpesa:ussd"
PROMPT_TIMEOUT = timedelta(minutes=2)  # UNCONFIRMED: how long ClickPesa waits for a PIN


class ClickPesaSim:
    """The adapter and its fake on 127.0.0.1, approved at planned times; every webhook lost."""

    name: ClassVar[str] = "clickpesa"
    confirm_paid_by_query: ClassVar[bool] = True

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.fake = FakeClickPesa(KEY, CHECKSUM, per_minute=10**9)  # the poller's throttle rules
        self.paid_at: dict[str, datetime | None] = {}
        self.created_at: dict[str, datetime] = {}
        self.queries: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.inner: ClickPesaGateway | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.fake.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession()
        start = self.clock()
        self.inner = ClickPesaGateway(
            self._http,
            base_url=f"http://127.0.0.1:{port}",
            client_id=CLIENT_ID,
            api_key=KEY,
            checksum_key=CHECKSUM,
            clock=lambda: (self.clock() - start).total_seconds(),
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def create(self, reference: str, amount: int) -> str | None:
        """Preview and push at the fake as the app would; ClickPesa's id for the row."""
        assert self.inner is not None
        now = self.clock()
        checkout = Checkout(
            reference, amount, "TZS", MethodId.parse(METHOD), Customer("Bench", "+255712345678"),
            "bench", now + timedelta(minutes=10), "http://127.0.0.1/callbacks/clickpesa",
        )  # fmt: skip
        return (await self.inner.create_payment(checkout)).external_id

    def plan(self, reference: str, created: datetime, paid_after: float | None) -> None:
        self.created_at[reference] = created
        self.paid_at[reference] = (
            None if paid_after is None else created + timedelta(seconds=paid_after)
        )

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
        raise NotImplementedError  # every webhook is lost

    def calls(self) -> Counter[str]:
        """What the fake answered, by kind: ClickPesa counts each against the daily budget."""
        kinds: Counter[str] = Counter()
        for method, path in self.fake.calls:
            kind = path.rsplit("/", 1)[-1] if method == "POST" else "status"
            kinds[kind] += 1
        return kinds

    def _steer(self, reference: str) -> None:
        item = self.fake.payment(reference)
        if item["status"] != "PROCESSING":
            return
        paid, now = self.paid_at[reference], self.clock()
        if paid is not None and paid <= now:
            self.fake.pay(reference)
        elif paid is None and now >= self.created_at[reference] + PROMPT_TIMEOUT:
            self.fake.fail(reference, "Request timed out")
