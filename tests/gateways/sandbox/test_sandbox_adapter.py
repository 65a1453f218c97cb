"""The sandbox gateway over real HTTP: the adapter against the provider our server serves."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    Customer,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    MethodKind,
    PaymentRef,
    PaymentStatus,
)
from payments.gateways.sandbox.adapter import SandboxGateway
from payments.gateways.sandbox.server import SandboxProvider
from payments.qris import parse_emv, validate_qris

SECRET = "s3cret-sandbox-key-0123456789"
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]


class Clock:
    """A clock the test moves by hand, for expiry."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    """Our side of the callbacks: records what arrives and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.app = web.Application()
        self.app.add_routes([web.post("/callbacks/sandbox", self._callback)])

    async def _callback(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})


@dataclass
class Sandbox:
    provider: SandboxProvider
    gateway: SandboxGateway
    receiver: Receiver
    callback_url: str
    base_url: str
    http: aiohttp.ClientSession

    def checkout(self, method: str = "sandbox:va:bca", **changes: Any) -> Checkout:
        checkout = Checkout(
            reference="A7K2Q901",
            amount=125_000,
            currency="IDR",
            method=MethodId.parse(method),
            customer=Customer("Siti", phone="+6281234567890"),
            description="2 kopi susu",
            expires_at=START + timedelta(hours=1),
            callback_url=self.callback_url,
        )
        return replace(checkout, **changes)

    def ref(self, checkout: Checkout) -> PaymentRef:
        return PaymentRef(checkout.reference, None, checkout.method)


MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def make_sandbox(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> AsyncIterator[MakeSandbox]:
    providers: list[SandboxProvider] = []
    receiver = Receiver()
    receiver_server = await aiohttp_server(receiver.app)

    async def make(**knobs: Any) -> Sandbox:
        knobs.setdefault("clock", Clock())
        provider = SandboxProvider(secret=SECRET, http=http, seed=7, **knobs)
        providers.append(provider)
        app = web.Application()
        provider.add_routes(app)
        server = await aiohttp_server(app)
        base_url = str(server.make_url("/sandbox"))
        gateway = SandboxGateway(http, base_url=base_url, secret=SECRET)
        callback_url = str(receiver_server.make_url("/callbacks/sandbox"))
        return Sandbox(provider, gateway, receiver, callback_url, base_url, http)

    yield make
    for provider in providers:
        await provider.close()


@pytest.fixture
async def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    return await make_sandbox()


async def test_va_payment_gets_a_bank_number_from_its_prefix(sandbox: Sandbox) -> None:
    created = await sandbox.gateway.create_payment(sandbox.checkout("sandbox:va:bca"))
    assert created.status is PaymentStatus.PENDING
    assert (created.amount, created.currency, created.reference) == (125_000, "IDR", "A7K2Q901")
    assert created.expires_at == START + timedelta(hours=1)
    instructions = created.instructions
    assert instructions is not None and instructions.kind is MethodKind.VA
    assert instructions.bank == "bca"
    assert instructions.number and instructions.number.startswith("88608")
    assert len(instructions.number) == 16 and instructions.number.isdigit()


async def test_qris_payment_gets_a_valid_code_for_the_amount(sandbox: Sandbox) -> None:
    created = await sandbox.gateway.create_payment(sandbox.checkout("sandbox:qris"))
    assert created.instructions is not None and created.instructions.qr_string
    fields = validate_qris(created.instructions.qr_string)
    assert fields["54"] == "125000"
    assert parse_emv(fields["62"])["01"] == "A7K2Q901"


async def test_link_payment_points_at_the_absolute_pay_page(sandbox: Sandbox) -> None:
    created = await sandbox.gateway.create_payment(sandbox.checkout("sandbox:link"))
    assert created.instructions is not None and created.instructions.url
    assert created.instructions.url.startswith("http://127.0.0.1:")
    assert created.instructions.url.endswith("/sandbox/pay/A7K2Q901")


async def test_ussd_payment_names_the_phone_pushed_to(sandbox: Sandbox) -> None:
    created = await sandbox.gateway.create_payment(sandbox.checkout("sandbox:ussd"))
    assert created.instructions is not None
    assert created.instructions.phone == "+6281234567890"


async def test_ussd_without_a_phone_is_rejected_before_any_request(sandbox: Sandbox) -> None:
    checkout = sandbox.checkout("sandbox:ussd", customer=Customer("Siti"))
    with pytest.raises(GatewayRejected, match="phone"):
        await sandbox.gateway.create_payment(checkout)
    assert sandbox.provider.payments == {}


async def test_same_reference_twice_makes_one_payment(sandbox: Sandbox) -> None:
    first = await sandbox.gateway.create_payment(sandbox.checkout())
    again = await sandbox.gateway.create_payment(sandbox.checkout())
    assert again.external_id == first.external_id
    assert again.instructions == first.instructions
    assert len(sandbox.provider.payments) == 1


async def test_reference_reused_for_another_amount_is_rejected(sandbox: Sandbox) -> None:
    await sandbox.gateway.create_payment(sandbox.checkout())
    with pytest.raises(GatewayRejected, match="409"):
        await sandbox.gateway.create_payment(sandbox.checkout(amount=99_000))


async def test_wrong_bearer_token_is_rejected_without_showing_it(sandbox: Sandbox) -> None:
    wrong = SandboxGateway(sandbox.http, base_url=sandbox.base_url, secret="wrong")
    with pytest.raises(GatewayRejected, match="401") as caught:
        await wrong.create_payment(sandbox.checkout())
    assert SECRET not in str(caught.value)


async def test_paying_by_hand_sends_a_signed_callback_that_reads_paid(sandbox: Sandbox) -> None:
    checkout = sandbox.checkout()
    created = await sandbox.gateway.create_payment(checkout)
    settled = await sandbox.gateway.settle(checkout.reference, "pay")
    await sandbox.provider.flush()
    assert settled.status is PaymentStatus.PAID
    [(headers, body)] = sandbox.receiver.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Sandbox-Signature"] == expected
    result = sandbox.gateway.parse_callback(headers, body)
    assert (result.status, result.amount, result.currency) == (PaymentStatus.PAID, 125_000, "IDR")
    assert (result.reference, result.external_id) == (checkout.reference, created.external_id)
    assert json.loads(body)["paid_at"] == START.isoformat()
    fetched = await sandbox.gateway.fetch_status(sandbox.ref(checkout))
    assert (fetched.status, fetched.raw_status) == (PaymentStatus.PAID, "PAID")


async def test_forged_callbacks_are_rejected(sandbox: Sandbox) -> None:
    body = json.dumps({"reference": "A7K2Q901", "id": "x", "status": "PAID", "amount": 1,
                       "currency": "IDR", "method": "va:bca"}).encode()  # fmt: skip
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    for headers, sent in [
        ({}, body),
        ({"X-Sandbox-Signature": "0" * 64}, body),
        ({"x-sandbox-signature": good}, body.replace(b'"amount": 1', b'"amount": 9')),
        ({"X-Sandbox-Signature": "ünïcode"}, body),
    ]:
        with pytest.raises(CallbackRejected) as caught:
            sandbox.gateway.parse_callback(headers, sent)
        assert SECRET not in str(caught.value) and good not in str(caught.value)
    assert sandbox.gateway.parse_callback({"x-sandbox-signature": good}, body).amount == 1


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"status": "PAID"}'])
async def test_signed_garbage_is_unreadable(sandbox: Sandbox, body: bytes) -> None:
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(CallbackUnreadable):
        sandbox.gateway.parse_callback({"X-Sandbox-Signature": signature}, body)


async def test_failing_by_hand_reads_failed(sandbox: Sandbox) -> None:
    checkout = sandbox.checkout()
    await sandbox.gateway.create_payment(checkout)
    failed = await sandbox.gateway.settle(checkout.reference, "fail")
    await sandbox.provider.flush()
    assert failed.status is PaymentStatus.FAILED and failed.reason
    [(headers, body)] = sandbox.receiver.received
    assert sandbox.gateway.parse_callback(headers, body).status is PaymentStatus.FAILED


async def test_cancelled_payment_reads_cancelled_and_a_paid_one_stays_paid(
    sandbox: Sandbox,
) -> None:
    first, second = sandbox.checkout(), sandbox.checkout(reference="A7K2Q902")
    await sandbox.gateway.create_payment(first)
    await sandbox.gateway.create_payment(second)
    assert (
        await sandbox.gateway.cancel_payment(sandbox.ref(first))
    ).status is PaymentStatus.CANCELLED
    await sandbox.gateway.settle(second.reference, "pay")
    assert (await sandbox.gateway.cancel_payment(sandbox.ref(second))).status is PaymentStatus.PAID


async def test_payment_past_its_expiry_reads_expired(make_sandbox: MakeSandbox) -> None:
    clock = Clock()
    sandbox = await make_sandbox(clock=clock)
    checkout = sandbox.checkout()
    await sandbox.gateway.create_payment(checkout)
    clock.now = checkout.expires_at + timedelta(seconds=1)
    assert (
        await sandbox.gateway.fetch_status(sandbox.ref(checkout))
    ).status is PaymentStatus.EXPIRED
    await sandbox.provider.flush()
    [(headers, body)] = sandbox.receiver.received
    assert sandbox.gateway.parse_callback(headers, body).status is PaymentStatus.EXPIRED


async def test_auto_pay_pays_without_a_hand(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(auto_pay_after=0.05)
    checkout = sandbox.checkout("sandbox:ussd")
    await sandbox.gateway.create_payment(checkout)
    await asyncio.sleep(0.1)
    await sandbox.provider.flush()
    assert (await sandbox.gateway.fetch_status(sandbox.ref(checkout))).status is PaymentStatus.PAID
    assert len(sandbox.receiver.received) == 1


async def test_dropped_callbacks_are_never_sent_yet_status_reads_paid(
    make_sandbox: MakeSandbox,
) -> None:
    sandbox = await make_sandbox(drop_share=1.0)
    checkout = sandbox.checkout()
    await sandbox.gateway.create_payment(checkout)
    await sandbox.gateway.settle(checkout.reference, "pay")
    await sandbox.provider.flush()
    assert sandbox.receiver.received == [] and sandbox.provider.sent_callbacks == []
    assert (await sandbox.gateway.fetch_status(sandbox.ref(checkout))).status is PaymentStatus.PAID


async def test_duplicated_callbacks_arrive_twice(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(duplicate_share=1.0, callback_delay=0.01)
    checkout = sandbox.checkout()
    await sandbox.gateway.create_payment(checkout)
    await sandbox.gateway.settle(checkout.reference, "pay")
    await sandbox.provider.flush()
    first, second = sandbox.receiver.received
    assert first == second


async def test_failing_callback_url_is_retried_once_then_given_up(
    make_sandbox: MakeSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = await make_sandbox(callback_retry_delay=0.01)
    checkout = sandbox.checkout(callback_url=sandbox.callback_url.replace("/callbacks/", "/nope/"))
    await sandbox.gateway.create_payment(checkout)
    with caplog.at_level(logging.WARNING, logger="payments.gateways.sandbox.server"):
        await sandbox.gateway.settle(checkout.reference, "pay")
        await sandbox.provider.flush()
    assert [sent.http_status for sent in sandbox.provider.sent_callbacks] == [404, 404]
    assert "giving up" in caplog.text


async def test_pay_page_has_pay_and_fail_buttons_and_its_form_pays(sandbox: Sandbox) -> None:
    checkout = sandbox.checkout("sandbox:qris")
    created = await sandbox.gateway.create_payment(checkout)
    assert created.instructions is not None and created.instructions.url
    http = sandbox.http
    async with http.get(created.instructions.url) as response:
        page = await response.text()
    assert ">Pay</button>" in page and ">Fail</button>" in page and "125,000" in page
    async with http.get(created.instructions.url.replace("/pay/", "/qr/") + ".png") as response:
        assert (await response.read()).startswith(b"\x89PNG")
    async with http.post(created.instructions.url, data={"outcome": "pay"}) as response:
        assert response.status == 200 and "PAID" in await response.text()
    assert (await sandbox.gateway.fetch_status(sandbox.ref(checkout))).status is PaymentStatus.PAID


async def test_unmapped_provider_status_reads_pending_with_a_warning(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    checkout = sandbox.checkout()
    await sandbox.gateway.create_payment(checkout)
    sandbox.provider.set_status(checkout.reference, "ON_HOLD")
    with caplog.at_level(logging.WARNING, logger="payments.gateways.sandbox.adapter"):
        result = await sandbox.gateway.fetch_status(sandbox.ref(checkout))
    assert (result.status, result.raw_status) == (PaymentStatus.PENDING, "ON_HOLD")
    assert "sandbox: unmapped status 'ON_HOLD', treating as pending" in caplog.text


async def test_overloaded_provider_reads_unavailable_with_retry_after(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response({}, status=503, headers={"Retry-After": "7"})

    app = web.Application()
    app.add_routes([web.route("*", "/{tail:.*}", busy)])
    server = await aiohttp_server(app)
    gateway = SandboxGateway(http, base_url=str(server.make_url("/sandbox")), secret=SECRET)
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.fetch_status(PaymentRef("A7K2Q901", None, MethodId.parse("sandbox:qris")))
    assert caught.value.retry_after == 7.0 and SECRET not in str(caught.value)


async def test_unreachable_provider_reads_unavailable(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = SandboxGateway(http, base_url="http://127.0.0.1:9/sandbox", secret=SECRET)
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.settle("A7K2Q901", "pay")
    assert SECRET not in str(caught.value) and SECRET not in caplog.text
