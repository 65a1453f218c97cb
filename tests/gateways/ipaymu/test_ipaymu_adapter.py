"""The iPaymu adapter over real HTTP against FakeIpaymu, plus the shared signed examples."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    Customer,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    MethodKind,
    PaymentError,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
    names_another_payment,
)
from payments.gateways.ipaymu.adapter import IpaymuGateway
from payments.gateways.ipaymu.wire import request_signature
from tests.gateways.ipaymu.fake import FakeIpaymu

VA = "1179000899555001"
API_KEY = "SANDBOX-TEST-KEY-7f3a9c2e-0000-4bd1-8e55-secret"
RECORDINGS = Path(__file__).parent / "recordings"
BANKS = ["bca", "bni", "bri", "mandiri", "cimb", "permata", "bsi"]
S = PaymentStatus


def checkout(method: str = "ipaymu:va:bca", reference: str = "A7K2Q901", **kw: Any) -> Checkout:
    values: dict[str, Any] = {
        "reference": reference,
        "amount": 150_000,
        "currency": "IDR",
        "method": MethodId.parse(method),
        "customer": Customer("Budi Santoso", "+6281234567890", "budi@example.com"),
        "description": "Kopi Gayo 1/2 kg",
        "expires_at": datetime.now(UTC) + timedelta(hours=6),
        "callback_url": "https://bot.example.com/webhooks/ipaymu",
        "return_url": "https://t.me/example_shop_bot",
    }
    return Checkout(**(values | kw))


def ref(created: PaymentResult, method: str = "ipaymu:va:bca") -> PaymentRef:
    assert created.reference is not None
    return PaymentRef(created.reference, created.external_id, MethodId.parse(method))


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return data


@dataclass
class Harness:
    fake: FakeIpaymu
    gateway: IpaymuGateway
    base_url: str


@dataclass
class Receiver:
    """Our callback route in miniature: read, parse, answer 200/401/400."""

    gateway: IpaymuGateway
    url: str = ""
    results: list[PaymentResult] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            result = self.gateway.parse_callback(request.headers, await request.read())
        except CallbackRejected:
            return web.Response(status=401)
        except CallbackUnreadable:
            return web.Response(status=400)
        self.results.append(result)
        return web.json_response({"status": "OK"})


@pytest.fixture
async def ipaymu(aiohttp_server: AiohttpServer, http: aiohttp.ClientSession) -> Harness:
    # A roomy adapter timeout, so a busy CI machine never times out by accident; the fake's
    # "timeout" answer comes later still.
    fake = FakeIpaymu(va=VA, api_key=API_KEY, slow_seconds=3.0)
    server = await aiohttp_server(fake.app, host="127.0.0.1")
    base_url = str(server.make_url("/"))
    gateway = IpaymuGateway(http, base_url=base_url, va=VA, api_key=API_KEY, timeout=2.0)
    return Harness(fake, gateway, base_url)


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer, ipaymu: Harness) -> Receiver:
    receiver = Receiver(ipaymu.gateway)
    app = web.Application()
    app.add_routes([web.post("/webhooks/ipaymu", receiver.handle)])
    server = await aiohttp_server(app, host="127.0.0.1")
    receiver.url = str(server.make_url("/webhooks/ipaymu"))
    return receiver


# -- create -------------------------------------------------------------------------------


async def test_a_link_payment_gives_the_hosted_page_url(ipaymu: Harness) -> None:
    created = await ipaymu.gateway.create_payment(checkout("ipaymu:link"))

    assert created.status is S.PENDING
    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.LINK
    assert (
        created.instructions.url
        == f"{ipaymu.base_url}payment/{ipaymu.fake.latest('A7K2Q901').sid}"
    )
    assert created.external_id is None  # iPaymu's redirect answer has no TransactionId
    assert ipaymu.fake.calls == [("POST", "/api/v2/payment")]


@pytest.mark.parametrize("bank", BANKS)
async def test_a_va_payment_gives_the_bank_and_the_number(ipaymu: Harness, bank: str) -> None:
    created = await ipaymu.gateway.create_payment(checkout(f"ipaymu:va:{bank}"))

    fake_payment = ipaymu.fake.latest("A7K2Q901")
    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.VA
    assert created.instructions.bank == bank
    assert created.instructions.number == fake_payment.payment_no
    assert created.instructions.number.startswith("00")  # leading zeros survive
    assert created.external_id == str(fake_payment.trx_id)
    assert created.expires_at is not None and created.expires_at.tzinfo is not None
    assert ipaymu.fake.calls == [("POST", "/api/v2/payment/direct")]


async def test_a_qris_payment_gives_the_qr_string_and_the_image(ipaymu: Harness) -> None:
    created = await ipaymu.gateway.create_payment(checkout("ipaymu:qris"))

    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.QRIS
    assert created.instructions.qr_string == ipaymu.fake.latest("A7K2Q901").payment_no
    assert created.instructions.url is not None and created.instructions.url.endswith(".png")


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("ipaymu:link", {"expired": 6}),
        ("ipaymu:va:bni", {"expired": 6, "expiredType": "hours"}),
        ("ipaymu:va:bri", {"expired": 2, "expiredType": "hours"}),  # BRI allows 2 h at most
        ("ipaymu:va:bca", {}),  # fixed at 12 h by iPaymu
        ("ipaymu:qris", {}),  # fixed by iPaymu
    ],
)
async def test_the_expiry_is_sent_in_hours_within_the_channel_limits(
    ipaymu: Harness, method: str, expected: dict[str, Any]
) -> None:
    expires_at = datetime.now(UTC) + timedelta(hours=5, minutes=30)
    await ipaymu.gateway.create_payment(checkout(method, expires_at=expires_at))

    sent = json.loads(ipaymu.fake.bodies[-1])
    assert {k: v for k, v in sent.items() if k.startswith("expired")} == expected


async def test_the_direct_request_carries_what_ipaymu_needs(ipaymu: Harness) -> None:
    await ipaymu.gateway.create_payment(checkout("ipaymu:va:mandiri"))

    sent = json.loads(ipaymu.fake.bodies[-1])
    assert sent["referenceId"] == "A7K2Q901"
    assert sent["amount"] == 150_000 and isinstance(sent["amount"], int)
    assert (sent["paymentMethod"], sent["paymentChannel"]) == ("va", "mandiri")
    assert sent["phone"] == "081234567890"
    assert sent["feeDirection"] == "MERCHANT"


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "ipaymu:va:btn"},
        {"method": "midtrans:qris"},
        {"currency": "USD"},
        {"amount": 0},
        {"customer": Customer("Budi")},
    ],
)
async def test_a_checkout_ipaymu_would_refuse_is_rejected_before_sending(
    ipaymu: Harness, bad: dict[str, Any]
) -> None:
    with pytest.raises(GatewayRejected):
        await ipaymu.gateway.create_payment(checkout(**bad))
    assert ipaymu.fake.calls == []


async def test_supports_the_documented_methods_only(ipaymu: Harness) -> None:
    supported = ["ipaymu:link", "ipaymu:qris", *(f"ipaymu:va:{bank}" for bank in BANKS)]
    unsupported = ["ipaymu:va:btn", "ipaymu:ussd", "midtrans:va:bca", "ipaymu:link:x"]
    assert all(ipaymu.gateway.supports(MethodId.parse(m)) for m in supported)
    assert not any(ipaymu.gateway.supports(MethodId.parse(m)) for m in unsupported)


# -- idempotency --------------------------------------------------------------------------


async def test_a_retried_create_returns_the_first_payment(ipaymu: Harness) -> None:
    first = await ipaymu.gateway.create_payment(checkout())
    again = await ipaymu.gateway.create_payment(checkout())

    assert again == first
    assert ipaymu.fake.payments_for("A7K2Q901") == 1
    assert len(ipaymu.fake.calls) == 1


async def test_a_retry_after_a_timeout_never_creates_a_second_payment(ipaymu: Harness) -> None:
    ipaymu.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await ipaymu.gateway.create_payment(checkout())
    assert ipaymu.fake.payments_for("A7K2Q901") == 1  # it was created; the answer was lost

    for _ in range(2):
        with pytest.raises(GatewayUnavailable, match="not creating twice"):
            await ipaymu.gateway.create_payment(checkout())
    assert ipaymu.fake.payments_for("A7K2Q901") == 1


async def test_a_retry_after_a_500_never_creates_a_second_payment(ipaymu: Harness) -> None:
    ipaymu.fake.fail_next("500")
    with pytest.raises(GatewayUnavailable):
        await ipaymu.gateway.create_payment(checkout())
    with pytest.raises(GatewayUnavailable, match="not creating twice"):
        await ipaymu.gateway.create_payment(checkout())
    assert len(ipaymu.fake.calls) == 1


async def test_a_retry_after_a_429_creates_the_payment_once(ipaymu: Harness) -> None:
    ipaymu.fake.fail_next("429")
    with pytest.raises(GatewayUnavailable):
        await ipaymu.gateway.create_payment(checkout())

    created = await ipaymu.gateway.create_payment(checkout())
    await ipaymu.gateway.create_payment(checkout())
    assert created.external_id is not None
    assert ipaymu.fake.payments_for("A7K2Q901") == 1


async def test_concurrent_creates_with_one_reference_make_one_payment(ipaymu: Harness) -> None:
    """A double tap: the second create must not race the first to iPaymu."""
    outcomes = await asyncio.gather(
        ipaymu.gateway.create_payment(checkout()),
        ipaymu.gateway.create_payment(checkout()),
        return_exceptions=True,
    )

    assert sorted(type(o).__name__ for o in outcomes) == ["GatewayUnavailable", "PaymentResult"]
    assert ipaymu.fake.payments_for("A7K2Q901") == 1
    assert await ipaymu.gateway.create_payment(checkout()) in outcomes


async def test_a_reference_reused_for_another_amount_is_rejected(ipaymu: Harness) -> None:
    await ipaymu.gateway.create_payment(checkout())
    with pytest.raises(GatewayRejected):
        await ipaymu.gateway.create_payment(checkout(amount=99_000))
    assert ipaymu.fake.payments_for("A7K2Q901") == 1


async def test_the_fake_makes_a_second_payment_for_a_repeated_reference(
    ipaymu: Harness, http: aiohttp.ClientSession
) -> None:
    """Why the adapter must guard: iPaymu documents no deduplication, so the fake has none."""
    other = IpaymuGateway(http, base_url=ipaymu.base_url, va=VA, api_key=API_KEY)
    await ipaymu.gateway.create_payment(checkout())
    await other.create_payment(checkout())  # another process, no shared memory
    assert ipaymu.fake.payments_for("A7K2Q901") == 2


# -- fetch --------------------------------------------------------------------------------


async def test_a_paid_payment_fetches_as_paid(ipaymu: Harness) -> None:
    created = await ipaymu.gateway.create_payment(checkout())
    ipaymu.fake.pay("A7K2Q901")

    fetched = await ipaymu.gateway.fetch_status(ref(created))

    assert fetched.status is S.PAID
    assert (fetched.reference, fetched.external_id) == ("A7K2Q901", created.external_id)
    assert fetched.amount == 150_000 and type(fetched.amount) is int
    assert fetched.raw_status == "1"
    assert ipaymu.fake.calls[-1] == ("POST", "/api/v2/transaction")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-2, S.EXPIRED),
        (-1, S.PENDING),  # not documented: unmapped
        (0, S.PENDING),
        (1, S.PAID),
        (2, S.CANCELLED),
        (3, S.REFUNDED),
        (4, S.FAILED),
        (5, S.FAILED),
        (6, S.PAID),
        (7, S.PAID),
    ],
)
async def test_each_ipaymu_status_code_maps_to_its_status(
    ipaymu: Harness, code: int, expected: PaymentStatus
) -> None:
    created = await ipaymu.gateway.create_payment(checkout())
    ipaymu.fake.set_status("A7K2Q901", code)

    fetched = await ipaymu.gateway.fetch_status(ref(created))

    assert fetched.status is expected
    assert fetched.raw_status == str(code)


async def test_an_unmapped_status_reads_as_pending_with_a_warning(
    ipaymu: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    created = await ipaymu.gateway.create_payment(checkout())
    ipaymu.fake.set_status("A7K2Q901", 42)

    with caplog.at_level(logging.WARNING, logger="payments.gateways.ipaymu.adapter"):
        fetched = await ipaymu.gateway.fetch_status(ref(created))

    assert fetched.status is S.PENDING
    assert fetched.raw_status == "42"
    assert "ipaymu: unmapped status '42', treating as pending" in caplog.messages


async def test_fetch_without_a_transaction_id_is_unavailable(ipaymu: Harness) -> None:
    created = await ipaymu.gateway.create_payment(checkout("ipaymu:link"))

    with pytest.raises(GatewayUnavailable, match="no lookup by referenceId"):
        await ipaymu.gateway.fetch_status(ref(created, "ipaymu:link"))
    assert ipaymu.fake.calls == [("POST", "/api/v2/payment")]


async def test_fetch_uses_the_transaction_id_this_process_remembers(ipaymu: Harness) -> None:
    await ipaymu.gateway.create_payment(checkout())  # e.g. the caller crashed before storing it
    lost = PaymentRef("A7K2Q901", None, MethodId.parse("ipaymu:va:bca"))

    assert (await ipaymu.gateway.fetch_status(lost)).external_id is not None


@pytest.mark.parametrize("null_reference", [False, True])
async def test_a_transaction_of_another_reference_is_not_about_ours(
    ipaymu: Harness, null_reference: bool
) -> None:
    """A forged callback can pair our reference with someone else's paid trx_id: the answer
    says whose it is (or nobody's, as iPaymu's sample does), and the shared rule refuses it."""
    ipaymu.fake.null_reference = null_reference
    theirs = await ipaymu.gateway.create_payment(checkout(reference="ZZZZZZ01"))
    ipaymu.fake.pay("ZZZZZZ01")
    forged = PaymentRef("A7K2Q901", theirs.external_id, MethodId.parse("ipaymu:link"))
    answer = await ipaymu.gateway.fetch_status(forged)
    assert answer.status is PaymentStatus.PAID and answer.external_id == theirs.external_id
    assert answer.reference == (None if null_reference else "ZZZZZZ01")
    assert names_another_payment(answer, "A7K2Q901", None) is not None
    assert names_another_payment(answer, "ZZZZZZ01", theirs.external_id) is None


async def test_cancel_is_not_offered(ipaymu: Harness) -> None:
    created = await ipaymu.gateway.create_payment(checkout())
    assert await ipaymu.gateway.cancel_payment(ref(created)) is None


# -- transport ----------------------------------------------------------------------------


async def test_a_timeout_on_create_is_unavailable(ipaymu: Harness) -> None:
    ipaymu.fake.fail_next("timeout")
    started = datetime.now(UTC)
    with pytest.raises(GatewayUnavailable):
        await ipaymu.gateway.create_payment(checkout())
    # It gave up at its own timeout, not after the fake's late answer.
    assert datetime.now(UTC) - started < timedelta(seconds=ipaymu.fake.slow_seconds)


async def test_a_500_on_create_is_unavailable(ipaymu: Harness) -> None:
    ipaymu.fake.fail_next("500")
    with pytest.raises(GatewayUnavailable) as caught:
        await ipaymu.gateway.create_payment(checkout())
    assert caught.value.retry_after is None


async def test_a_429_on_create_is_unavailable_with_retry_after(ipaymu: Harness) -> None:
    ipaymu.fake.fail_next("429")
    with pytest.raises(GatewayUnavailable) as caught:
        await ipaymu.gateway.create_payment(checkout())
    assert caught.value.retry_after == 7.0


async def test_a_refused_connection_is_unavailable(http: aiohttp.ClientSession) -> None:
    gateway = IpaymuGateway(http, base_url="http://127.0.0.1:9", va=VA, api_key=API_KEY)
    with pytest.raises(GatewayUnavailable):
        await gateway.create_payment(checkout())


@pytest.mark.parametrize("mirror_status", [True, False])
async def test_a_wrong_api_key_is_rejected(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession, mirror_status: bool
) -> None:
    """Also when iPaymu answers HTTP 200 with {"Status": 401}: the body decides."""
    fake = FakeIpaymu(va=VA, api_key=API_KEY, mirror_status=mirror_status)
    server = await aiohttp_server(fake.app, host="127.0.0.1")
    gateway = IpaymuGateway(http, base_url=str(server.make_url("/")), va=VA, api_key="wrong")

    with pytest.raises(GatewayRejected, match="401 unauthorized"):
        await gateway.create_payment(checkout())
    assert fake.payments_for("A7K2Q901") == 0


async def test_the_request_signature_is_over_the_exact_bytes_sent(
    ipaymu: Harness, http: aiohttp.ClientSession
) -> None:
    """Non-ASCII and slashes make every re-serialisation differ from the bytes we signed."""
    await ipaymu.gateway.create_payment(checkout(description="Kopi ☕ 1/2 kg"))
    sent = ipaymu.fake.bodies[-1]
    assert ipaymu.fake.payments_for("A7K2Q901") == 1

    reserialised = json.dumps(json.loads(sent), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "va": VA,
        "timestamp": "20260115100126",
        "signature": request_signature("POST", VA, sent, API_KEY),  # signed one, sent another
    }
    url = f"{ipaymu.base_url}api/v2/payment/direct"
    async with http.post(url, data=reserialised, headers=headers) as resp:
        assert resp.status == 401
        assert await resp.json() == {"Status": 401, "Message": "unauthorized"}
    assert ipaymu.fake.payments_for("A7K2Q901") == 1


async def test_the_shared_request_example_signs_and_the_fake_accepts_it(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    example = recording("request_signature_direct_payment_va.json")
    check, sent = example["signature_check"], example["raw_body"].encode()
    assert (
        request_signature("POST", check["va"], sent, check["api_key"])
        == (check["expected_signature"])
    )

    fake = FakeIpaymu(va=check["va"], api_key=check["api_key"])
    server = await aiohttp_server(fake.app, host="127.0.0.1")
    url = str(server.make_url("/api/v2/payment/direct"))
    async with http.post(url, data=sent, headers=example["http"]["headers"]) as resp:
        assert (await resp.json())["Status"] == 200
    assert fake.payments_for("ORD20260115A7") == 1


# -- callbacks ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
async def test_a_good_callback_parses(ipaymu: Harness, form: bool) -> None:
    created = await ipaymu.gateway.create_payment(checkout())
    headers, body = ipaymu.fake.callback("A7K2Q901", status=1, form=form)

    result = ipaymu.gateway.parse_callback(headers, body)

    assert result.status is S.PAID
    assert (result.reference, result.external_id) == ("A7K2Q901", created.external_id)
    assert result.raw_status == "1"
    assert result.amount == 150_000 and type(result.amount) is int


async def test_a_callback_reports_the_amount_it_carries(ipaymu: Harness) -> None:
    """The amount check is the service's; the adapter reports exactly what iPaymu said."""
    await ipaymu.gateway.create_payment(checkout())
    headers, body = ipaymu.fake.callback("A7K2Q901", amount=1_000)

    assert ipaymu.gateway.parse_callback(headers, body).amount == 1_000


async def test_a_callback_over_http_is_accepted(
    ipaymu: Harness, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await ipaymu.gateway.create_payment(checkout("ipaymu:link"))
    status = await ipaymu.fake.send_callback(http, receiver.url, "A7K2Q901")

    assert status == 200
    assert [r.status for r in receiver.results] == [S.PAID]
    assert receiver.results[0].external_id == str(ipaymu.fake.latest("A7K2Q901").trx_id)


async def test_a_forged_callback_over_http_is_refused(
    ipaymu: Harness, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await ipaymu.gateway.create_payment(checkout())
    status = await ipaymu.fake.send_callback(http, receiver.url, "A7K2Q901", forged=True)

    assert status == 401
    assert receiver.results == []


@pytest.mark.parametrize(
    "name",
    [
        "callback_success_va_bca_form.json",
        "callback_pending_va_bca_form.json",
        "callback_expired_va_bca_form.json",
        "callback_success_qris_json.json",
    ],
)
async def test_the_shared_callback_examples_verify(name: str, http: aiohttp.ClientSession) -> None:
    example = recording(name)
    secret = example["signature_check"]["secret"]
    gateway = IpaymuGateway(http, base_url="http://unused", va=secret, api_key=API_KEY)
    fields = example.get("form_fields") or example["body"]

    result = gateway.parse_callback(example["http"]["headers"], example["raw_body"].encode())

    assert result.status == example["expected"]["canonical_status"]
    assert result.reference == fields["reference_id"]
    assert result.external_id == str(fields["trx_id"])
    assert result.raw_status == str(example["expected"]["raw_status_code"])
    assert result.amount == int(fields["sub_total"]) and type(result.amount) is int


async def test_a_tampered_shared_example_is_rejected(http: aiohttp.ClientSession) -> None:
    example = recording("callback_success_va_bca_form.json")
    gateway = IpaymuGateway(
        http, base_url="http://unused", va=example["signature_check"]["secret"], api_key=API_KEY
    )
    body = example["raw_body"].replace("sub_total=150000", "sub_total=1500").encode()

    with pytest.raises(CallbackRejected):
        gateway.parse_callback(example["http"]["headers"], body)


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
async def test_a_forged_signature_is_rejected(ipaymu: Harness, form: bool) -> None:
    await ipaymu.gateway.create_payment(checkout())
    headers, body = ipaymu.fake.callback("A7K2Q901", forged=True, form=form)

    with pytest.raises(CallbackRejected):
        ipaymu.gateway.parse_callback(headers, body)


async def test_an_unsigned_callback_is_read_and_left_to_the_re_query(ipaymu: Harness) -> None:
    """Older accounts send no X-Signature (iPaymu's callback docs): the re-query covers it."""
    await ipaymu.gateway.create_payment(checkout())
    headers, body = ipaymu.fake.callback("A7K2Q901")
    del headers["X-Signature"]

    assert ipaymu.gateway.parse_callback(headers, body).status is S.PAID
    assert IpaymuGateway.confirm_paid_by_query is True


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"\xff\xfe not text"),
        ("application/x-www-form-urlencoded", b"this is not a form"),
        ("application/x-www-form-urlencoded", b""),
        ("application/x-www-form-urlencoded", b"trx_id=1&status_code=1&sub_total=150000"),
        ("application/x-www-form-urlencoded", b"trx_id=1&reference_id=A&status_code=1"),
        ("application/x-www-form-urlencoded", b"trx_id=1&reference_id=A&sub_total=15.5"),
        ("application/json", b"{not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b'{"trx_id": 1, "reference_id": "A", "status_code": 1}'),
        ("application/json", b'{"trx_id": 1, "reference_id": "A", "status_code": 1, '
         b'"sub_total": 1500.5}'),
    ],
)  # fmt: skip
async def test_a_garbage_callback_is_unreadable(
    http: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    gateway = IpaymuGateway(http, base_url="http://unused", va=VA, api_key=API_KEY)
    with pytest.raises(CallbackUnreadable):
        gateway.parse_callback({"Content-Type": content_type}, body)


# -- secrets ------------------------------------------------------------------------------


async def test_no_secret_appears_in_any_exception_text_or_log_record(
    ipaymu: Harness, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad_key = IpaymuGateway(http, base_url=ipaymu.base_url, va=VA, api_key=API_KEY + "x")
    unknown = PaymentRef("D0000001", "999999", MethodId.parse("ipaymu:qris"))
    errors: list[PaymentError] = []

    async def attempt(call: Awaitable[object]) -> None:
        try:
            await call
        except PaymentError as exc:
            errors.append(exc)

    await attempt(bad_key.create_payment(checkout(reference="B0000001")))
    ipaymu.fake.fail_next("timeout")
    await attempt(ipaymu.gateway.create_payment(checkout(reference="C0000001")))
    await attempt(ipaymu.gateway.create_payment(checkout(reference="C0000001")))
    ipaymu.fake.fail_next("429")
    await attempt(ipaymu.gateway.create_payment(checkout(reference="D0000001")))
    await attempt(ipaymu.gateway.fetch_status(unknown))
    await ipaymu.gateway.create_payment(checkout(reference="E0000001"))
    forged = ipaymu.fake.callback("E0000001", forged=True)
    for headers, body in [forged, ({}, b"\x00garbage")]:
        with pytest.raises(PaymentError) as caught:
            ipaymu.gateway.parse_callback(headers, body)
        errors.append(caught.value)

    assert [type(e).__name__ for e in errors] == [
        "GatewayRejected", "GatewayUnavailable", "GatewayUnavailable", "_NotProcessed",
        "GatewayRejected", "CallbackRejected", "CallbackUnreadable",
    ]  # fmt: skip
    signatures = [forged[0]["X-Signature"]] + [
        request_signature("POST", VA, body, key)
        for body in ipaymu.fake.bodies
        for key in (API_KEY, API_KEY + "x")
    ]
    texts = [f"{e} {e.detail} {e.args!r} {e.__cause__!r} {e.__context__!r}" for e in errors]
    texts += [f"{r.getMessage()} {r.args!r}" for r in caplog.records]
    for secret in [API_KEY, VA, *signatures]:
        assert not any(secret in text for text in texts)


async def test_credentials_echoed_in_an_error_message_are_scrubbed(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    """iPaymu's error texts are undocumented; if one echoed our headers, we must not pass it on."""

    async def echo(request: web.Request) -> web.Response:
        echoed = " ".join(f"{k}={request.headers[k]}" for k in ("va", "signature"))
        message = f"unauthorized {echoed} key={API_KEY}"
        return web.json_response({"Status": 401, "Message": message}, status=401)

    app = web.Application()
    app.add_routes([web.post("/api/v2/payment/direct", echo)])
    server = await aiohttp_server(app, host="127.0.0.1")
    gateway = IpaymuGateway(http, base_url=str(server.make_url("/")), va=VA, api_key=API_KEY)

    with pytest.raises(GatewayRejected, match="unauthorized") as caught:
        await gateway.create_payment(checkout())
    assert VA not in str(caught.value) and API_KEY not in str(caught.value)
    assert "signature=***" in str(caught.value)
