"""The Midtrans adapter over real HTTP against FakeMidtrans, plus the shared signed examples."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpServer

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    Customer,
    GatewayRejected,
    GatewayUnavailable,
    Instructions,
    MethodId,
    MethodKind,
    PaymentError,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
)
from payments.gateways.midtrans.adapter import MidtransGateway
from tests.gateways.midtrans.fake import RETRY_AFTER, FakeMidtrans

KEY = "SB-Mid-server-TESTKEY0000000000000000"  # made up, as in the shared examples
TIMEOUT = 2.0  # the adapter's: roomy, so a busy CI machine never times out by accident
SLOW = 3.0  # a "timeout" answer from the fake comes this late, past TIMEOUT
RECORDINGS = Path(__file__).parent / "recordings"
S = PaymentStatus


def checkout(method: str = "midtrans:va:bca", reference: str = "A7K2Q901", **kw: Any) -> Checkout:
    values: dict[str, Any] = {
        "reference": reference,
        "amount": 125_000,
        "currency": "IDR",
        "method": MethodId.parse(method),
        "customer": Customer("Budi Santoso", "+6281234567890", "budi@example.com"),
        "description": "Kopi Gayo 1/2 kg",
        "expires_at": datetime.now(UTC) + timedelta(hours=1),
        "callback_url": "https://bot.example.com/webhooks/midtrans",
        "return_url": "https://t.me/example_shop_bot",
    }
    return Checkout(**(values | kw))


def ref(reference: str = "A7K2Q901", method: str = "midtrans:va:bca") -> PaymentRef:
    return PaymentRef(reference, None, MethodId.parse(method))


def recording(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass
class Harness:
    fake: FakeMidtrans
    gateway: MidtransGateway
    root: str


Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start(aiohttp_server: AiohttpServer, http: aiohttp.ClientSession) -> Start:
    """A fake on 127.0.0.1 and an adapter pointed at it (Core API and Snap on one server)."""

    async def start(*, errors_in_http: bool = False, key: str = KEY) -> Harness:
        fake = FakeMidtrans(KEY, errors_in_http=errors_in_http, slow_seconds=SLOW)
        server = await aiohttp_server(fake.app)
        root = str(server.make_url("")).rstrip("/")
        gateway = MidtransGateway(
            http, base_url=root, snap_url=root, server_key=key, timeout=TIMEOUT
        )
        return Harness(fake, gateway, root)

    return start


@pytest.fixture
async def midtrans(start: Start) -> Harness:
    return await start()


@dataclass
class Receiver:
    """Our callback route in miniature: read, parse, answer 200/401/400."""

    gateway: MidtransGateway
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
        return web.Response(text="OK")


@pytest.fixture
async def receiver(midtrans: Harness, aiohttp_server: AiohttpServer) -> Receiver:
    receiver = Receiver(midtrans.gateway)
    app = web.Application()
    app.router.add_post("/webhooks/midtrans", receiver.handle)
    server = await aiohttp_server(app)
    receiver.url = str(server.make_url("/webhooks/midtrans"))
    return receiver


# -- create ------------------------------------------------------------------------------------


async def test_link_checkout_opens_a_snap_page_with_a_hard_deadline(midtrans: Harness) -> None:
    order = checkout("midtrans:link")
    created = await midtrans.gateway.create_payment(order)

    assert created.status is S.PENDING
    assert created.reference == order.reference
    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.LINK
    assert (created.instructions.url or "").startswith(f"{midtrans.root}/snap/v2/vtweb/")
    assert midtrans.fake.calls == [("POST", "/snap/v1/transactions")]
    sent = midtrans.fake.bodies[-1]
    assert sent["transaction_details"] == {"order_id": order.reference, "gross_amount": 125_000}
    assert sent["expiry"]["unit"] == "minute" and sent["expiry"]["duration"] in (59, 60)
    assert sent["expiry"]["start_time"].endswith("+0700")
    assert sent["callbacks"] == {"finish": order.return_url}
    assert created.expires_at is not None
    assert abs(created.expires_at - order.expires_at) <= timedelta(minutes=1)


@pytest.mark.parametrize("bank", ["bca", "bni", "bri", "cimb", "permata"])
async def test_va_checkout_gives_the_bank_and_a_va_number(midtrans: Harness, bank: str) -> None:
    created = await midtrans.gateway.create_payment(checkout(f"midtrans:va:{bank}"))

    stored = midtrans.fake.orders["A7K2Q901"]
    number = stored.get("permata_va_number") or stored["va_numbers"][0]["va_number"]
    assert created.instructions == Instructions(MethodKind.VA, bank=bank, number=number)
    assert created.status is S.PENDING
    assert created.external_id == stored["transaction_id"]
    assert (created.amount, created.currency, created.raw_status) == (125_000, "IDR", "pending")
    assert midtrans.fake.bodies[-1]["bank_transfer"] == {"bank": bank}


async def test_mandiri_bill_gives_the_bill_key_and_names_the_biller_code(
    midtrans: Harness,
) -> None:
    created = await midtrans.gateway.create_payment(checkout("midtrans:va:mandiri"))

    stored = midtrans.fake.orders["A7K2Q901"]
    assert created.instructions == Instructions(
        MethodKind.VA, bank="mandiri (biller code 70012)", number=stored["bill_key"]
    )
    assert midtrans.fake.bodies[-1]["echannel"] == {
        "bill_info1": "Order",
        "bill_info2": "A7K2Q901",
    }


async def test_qris_checkout_gives_the_qr_string_and_the_image_url(midtrans: Harness) -> None:
    created = await midtrans.gateway.create_payment(checkout("midtrans:qris"))

    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.QRIS
    assert (created.instructions.qr_string or "").startswith("000201")
    tid = midtrans.fake.orders["A7K2Q901"]["transaction_id"]
    assert created.instructions.url == f"{midtrans.root}/v2/qris/{tid}/qr-code"


async def test_charge_carries_the_checkout_deadline_and_our_callback_url(
    midtrans: Harness,
) -> None:
    order = checkout(expires_at=datetime.now(UTC) + timedelta(minutes=90))
    created = await midtrans.gateway.create_payment(order)

    expiry = midtrans.fake.bodies[-1]["custom_expiry"]
    assert expiry["unit"] == "minute" and expiry["expiry_duration"] in (89, 90)
    assert created.expires_at is not None
    assert timedelta(0) <= order.expires_at - created.expires_at <= timedelta(minutes=1)
    assert midtrans.fake.notification_urls["A7K2Q901"] == order.callback_url


async def test_unsupported_method_or_currency_is_refused_before_calling(
    midtrans: Harness,
) -> None:
    assert not midtrans.gateway.supports(MethodId.parse("midtrans:va:bsi"))
    assert not midtrans.gateway.supports(MethodId.parse("xendit:va:bca"))
    with pytest.raises(GatewayRejected):
        await midtrans.gateway.create_payment(checkout("midtrans:va:bsi"))
    with pytest.raises(GatewayRejected):
        await midtrans.gateway.create_payment(checkout(currency="TZS"))
    assert midtrans.fake.calls == []


# -- fetch -------------------------------------------------------------------------------------


async def test_settled_charge_reads_as_paid(midtrans: Harness) -> None:
    created = await midtrans.gateway.create_payment(checkout())
    midtrans.fake.settle("A7K2Q901")

    fetched = await midtrans.gateway.fetch_status(ref())

    assert fetched.status is S.PAID
    assert (fetched.reference, fetched.external_id) == ("A7K2Q901", created.external_id)
    assert fetched.amount == 125_000
    assert fetched.instructions == created.instructions  # status repeats the VA fields


@pytest.mark.parametrize(
    ("raw", "fraud", "expected"),
    [
        ("pending", "accept", S.PENDING),
        ("authorize", "accept", S.PROCESSING),
        ("capture", "accept", S.PAID),
        ("capture", "challenge", S.PROCESSING),
        ("capture", None, S.PROCESSING),
        ("settlement", "accept", S.PAID),
        ("settlement", None, S.PAID),
        ("settlement", "challenge", S.PROCESSING),
        ("deny", "accept", S.FAILED),
        ("deny", "deny", S.FAILED),
        ("failure", None, S.FAILED),
        ("cancel", "accept", S.CANCELLED),
        ("expire", None, S.EXPIRED),
        ("refund", "accept", S.REFUNDED),
        ("partial_refund", "accept", S.PAID),
        ("chargeback", "accept", S.REFUNDED),
        ("partial_chargeback", "accept", S.PAID),
    ],
)
async def test_each_midtrans_status_maps_to_ours(
    midtrans: Harness, raw: str, fraud: str | None, expected: S
) -> None:
    await midtrans.gateway.create_payment(checkout())
    midtrans.fake.set_status("A7K2Q901", raw, fraud)

    fetched = await midtrans.gateway.fetch_status(ref())

    assert fetched.status is expected
    assert fetched.raw_status in (raw, f"{raw}/{fraud}")
    assert (fetched.reason is not None) == raw.startswith("partial_")


@pytest.mark.parametrize("errors_in_http", [False, True], ids=["errors-in-body", "errors-in-http"])
async def test_snap_order_before_a_method_is_chosen_reads_as_pending(
    start: Start, errors_in_http: bool
) -> None:
    midtrans = await start(errors_in_http=errors_in_http)
    await midtrans.gateway.create_payment(checkout("midtrans:link"))

    fetched = await midtrans.gateway.fetch_status(ref(method="midtrans:link"))

    assert fetched.status is S.PENDING
    assert fetched.raw_status is None
    assert midtrans.fake.calls[-1] == ("GET", "/v2/A7K2Q901/status")


async def test_snap_order_reads_the_chosen_method_once_the_customer_picks_one(
    midtrans: Harness,
) -> None:
    await midtrans.gateway.create_payment(checkout("midtrans:link"))
    midtrans.fake.choose_method("A7K2Q901", "va:bni")

    fetched = await midtrans.gateway.fetch_status(ref(method="midtrans:link"))

    assert fetched.status is S.PENDING
    assert fetched.instructions is not None and fetched.instructions.bank == "bni"


async def test_unmapped_status_reads_as_pending_and_warns(
    midtrans: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await midtrans.gateway.create_payment(checkout())
    midtrans.fake.set_status("A7K2Q901", "teleported", "accept")

    with caplog.at_level(logging.WARNING, logger="payments.gateways.midtrans.adapter"):
        fetched = await midtrans.gateway.fetch_status(ref())

    assert fetched.status is S.PENDING
    assert fetched.raw_status == "teleported"
    assert "midtrans: unmapped status 'teleported', treating as pending" in caplog.messages


async def test_fetch_during_an_outage_is_unavailable(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())
    midtrans.fake.fail_next("500")

    with pytest.raises(GatewayUnavailable):
        await midtrans.gateway.fetch_status(ref())


# -- callbacks ---------------------------------------------------------------------------------


async def test_good_notification_parses_to_paid_with_amount_and_reference(
    midtrans: Harness,
) -> None:
    created = await midtrans.gateway.create_payment(checkout())

    result = midtrans.gateway.parse_callback({}, midtrans.fake.notification("A7K2Q901"))

    assert result.status is S.PAID
    assert (result.reference, result.external_id) == ("A7K2Q901", created.external_id)
    assert (result.amount, result.currency, result.raw_status) == (125_000, "IDR", "settlement")
    assert result.expires_at is not None


async def test_notifications_posted_to_our_route_are_answered_by_verdict(
    midtrans: Harness, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await midtrans.gateway.create_payment(checkout())
    send = midtrans.fake.send_notification

    assert await send(http, receiver.url, "A7K2Q901") == 200
    assert await send(http, receiver.url, "A7K2Q901", forged=True) == 401
    assert await send(http, receiver.url, "A7K2Q901", amount="125000.50") == 400
    assert [r.status for r in receiver.results] == [S.PAID]


@pytest.mark.parametrize(
    "path", sorted(RECORDINGS.glob("notification_*.json")), ids=lambda p: p.stem
)
async def test_shared_example_verifies_with_its_documented_key(
    http: aiohttp.ClientSession, path: Path
) -> None:
    example = recording(path)
    key = example["signature_check"]["server_key"]
    gateway = MidtransGateway(http, base_url="http://x", snap_url="http://x", server_key=key)

    result = gateway.parse_callback(
        example["http"]["headers"], json.dumps(example["body"]).encode()
    )

    assert result.status == example["expected"]["canonical_status"]
    assert result.status.is_final == example["expected"]["final"]
    assert result.reference == example["body"]["order_id"]
    assert result.amount == int(example["body"]["gross_amount"].split(".")[0])
    with pytest.raises(CallbackRejected):
        MidtransGateway(
            http, base_url="http://x", snap_url="http://x", server_key="other"
        ).parse_callback({}, json.dumps(example["body"]).encode())


async def test_shared_mandiri_example_names_the_biller_code_and_bill_key(
    http: aiohttp.ClientSession,
) -> None:
    example = recording(RECORDINGS / "notification_pending_mandiri_bill.json")
    gateway = MidtransGateway(http, base_url="http://x", snap_url="http://x", server_key=KEY)

    result = gateway.parse_callback({}, json.dumps(example["body"]).encode())

    assert result.instructions == Instructions(
        MethodKind.VA, bank="mandiri (biller code 70012)", number="990000000260"
    )
    assert result.expires_at == datetime(2026, 1, 16, 3, 5, tzinfo=UTC)  # 10:05 WIB


async def test_forged_signature_is_rejected(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())

    with pytest.raises(CallbackRejected):
        midtrans.gateway.parse_callback({}, midtrans.fake.notification("A7K2Q901", forged=True))


async def test_changed_amount_breaks_the_signature(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())
    body = json.loads(midtrans.fake.notification("A7K2Q901"))
    body["gross_amount"] = "1.00"

    with pytest.raises(CallbackRejected):
        midtrans.gateway.parse_callback({}, json.dumps(body).encode())


async def test_signature_does_not_cover_the_status_so_paid_needs_a_query(
    midtrans: Harness,
) -> None:
    """A pending notification's signature still verifies with its status word changed."""
    await midtrans.gateway.create_payment(checkout())
    body = json.loads(midtrans.fake.notification("A7K2Q901", status="pending"))
    body["status_code"], body["transaction_status"] = "201", "settlement"
    body["signature_key"] = json.loads(midtrans.fake.notification("A7K2Q901", status="pending"))[
        "signature_key"
    ]

    assert midtrans.gateway.parse_callback({}, json.dumps(body).encode()).status is S.PAID
    assert MidtransGateway.confirm_paid_by_query is True


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"order_id": "A7K2Q901"}',
        b"\xff\xfe",
    ],
    ids=["empty", "text", "array", "fields-missing", "not-utf8"],
)
async def test_garbage_body_is_unreadable(midtrans: Harness, body: bytes) -> None:
    with pytest.raises(CallbackUnreadable):
        midtrans.gateway.parse_callback({}, body)


@pytest.mark.parametrize("amount", ["125000.50", "125000.5", "1.25e5", "-5.00", "Rp 125.000"])
async def test_signed_amount_that_is_not_whole_rupiah_is_unreadable(
    midtrans: Harness, amount: str
) -> None:
    await midtrans.gateway.create_payment(checkout())

    with pytest.raises(CallbackUnreadable):
        midtrans.gateway.parse_callback({}, midtrans.fake.notification("A7K2Q901", amount=amount))


async def test_signed_body_without_a_status_is_unreadable(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())
    body = json.loads(midtrans.fake.notification("A7K2Q901"))
    del body["transaction_status"]

    with pytest.raises(CallbackUnreadable):
        midtrans.gateway.parse_callback({}, json.dumps(body).encode())


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(min_value=1, max_value=10**12))
async def test_any_whole_rupiah_amount_reads_back_exactly(
    http: aiohttp.ClientSession, amount: int
) -> None:
    fake = FakeMidtrans(KEY)
    gateway = MidtransGateway(http, base_url="http://x", snap_url="http://x", server_key=KEY)

    result = gateway.parse_callback({}, fake.notification("A7K2Q901", amount=amount))

    assert result.amount == amount


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["midtrans:va:bca", "midtrans:link"])
async def test_create_that_times_out_is_unavailable(midtrans: Harness, method: str) -> None:
    midtrans.fake.fail_next("timeout")

    with pytest.raises(GatewayUnavailable) as caught:
        await midtrans.gateway.create_payment(checkout(method))

    assert caught.value.retry_after is None


async def test_create_during_a_500_is_unavailable(midtrans: Harness) -> None:
    midtrans.fake.fail_next("500")

    with pytest.raises(GatewayUnavailable):
        await midtrans.gateway.create_payment(checkout())

    assert midtrans.fake.charge_count("A7K2Q901") == 0


async def test_create_when_rate_limited_is_unavailable_with_retry_after(
    midtrans: Harness,
) -> None:
    midtrans.fake.fail_next("429")

    with pytest.raises(GatewayUnavailable) as caught:
        await midtrans.gateway.create_payment(checkout())

    assert caught.value.retry_after == RETRY_AFTER


@pytest.mark.parametrize("errors_in_http", [False, True], ids=["errors-in-body", "errors-in-http"])
@pytest.mark.parametrize("method", ["midtrans:va:bca", "midtrans:qris", "midtrans:link"])
async def test_wrong_server_key_is_rejected(
    start: Start, errors_in_http: bool, method: str
) -> None:
    midtrans = await start(errors_in_http=errors_in_http, key="SB-Mid-server-WRONG")

    with pytest.raises(GatewayRejected) as caught:
        await midtrans.gateway.create_payment(checkout(method))

    assert "401" in str(caught.value)
    assert midtrans.fake.orders == {} and midtrans.fake.snap_pages == {}


async def test_invalid_request_is_rejected(midtrans: Harness) -> None:
    with pytest.raises(GatewayRejected) as caught:
        await midtrans.gateway.create_payment(checkout(amount=0))

    assert "whole IDR" in str(caught.value)


# -- idempotency -------------------------------------------------------------------------------


@pytest.mark.parametrize("errors_in_http", [False, True], ids=["errors-in-body", "errors-in-http"])
@pytest.mark.parametrize(
    "method", ["midtrans:va:bca", "midtrans:va:permata", "midtrans:va:mandiri"]
)
async def test_retry_after_a_timeout_that_created_returns_the_same_payment(
    start: Start, errors_in_http: bool, method: str
) -> None:
    midtrans = await start(errors_in_http=errors_in_http)
    order = checkout(method)
    midtrans.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await midtrans.gateway.create_payment(order)
    assert midtrans.fake.charge_count(order.reference) == 1  # it did happen

    again = await midtrans.gateway.create_payment(order)

    stored = midtrans.fake.orders[order.reference]
    assert midtrans.fake.charge_count(order.reference) == 1
    assert list(midtrans.fake.orders) == [order.reference]
    assert again.external_id == stored["transaction_id"]
    assert again.status is S.PENDING
    assert again.instructions is not None
    assert again.instructions.number in (
        stored.get("permata_va_number"),
        stored.get("bill_key"),
        (stored.get("va_numbers") or [{}])[0].get("va_number"),
    )
    assert midtrans.fake.calls[-2:] == [("POST", "/v2/charge"), ("GET", "/v2/A7K2Q901/status")]


async def test_retry_returns_the_same_instructions_as_the_first_answer(midtrans: Harness) -> None:
    first = await midtrans.gateway.create_payment(checkout())

    again = await midtrans.gateway.create_payment(checkout())

    assert again.instructions == first.instructions
    assert again.external_id == first.external_id
    assert midtrans.fake.charge_count("A7K2Q901") == 1


async def test_qris_retry_returns_the_qr_image_even_where_status_lacks_the_qr_string(
    midtrans: Harness,
) -> None:
    first = await midtrans.gateway.create_payment(checkout("midtrans:qris"))

    again = await midtrans.gateway.create_payment(checkout("midtrans:qris"))

    assert again.instructions is not None and first.instructions is not None
    assert again.instructions.url == first.instructions.url
    assert midtrans.fake.charge_count("A7K2Q901") == 1


async def test_retry_of_a_settled_payment_reports_it_paid(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())
    midtrans.fake.settle("A7K2Q901")

    again = await midtrans.gateway.create_payment(checkout())

    assert again.status is S.PAID
    assert midtrans.fake.charge_count("A7K2Q901") == 1


@pytest.mark.parametrize(
    "other", [{"amount": 99_000}, {"method": "midtrans:va:bni"}], ids=["amount", "bank"]
)
async def test_reference_taken_by_another_payment_is_rejected(
    midtrans: Harness, other: dict[str, Any]
) -> None:
    await midtrans.gateway.create_payment(checkout())

    with pytest.raises(GatewayRejected, match="another payment"):
        await midtrans.gateway.create_payment(checkout(**other))

    assert midtrans.fake.charge_count("A7K2Q901") == 1


async def test_snap_retry_before_a_method_is_chosen_reissues_the_page_only(
    midtrans: Harness,
) -> None:
    order = checkout("midtrans:link")
    midtrans.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await midtrans.gateway.create_payment(order)

    again = await midtrans.gateway.create_payment(order)

    assert again.instructions is not None and again.instructions.kind is MethodKind.LINK
    assert midtrans.fake.charge_count(order.reference) == 1
    assert midtrans.fake.orders == {}


async def test_snap_retry_after_a_method_was_chosen_returns_that_payment(
    midtrans: Harness,
) -> None:
    order = checkout("midtrans:link")
    await midtrans.gateway.create_payment(order)
    midtrans.fake.choose_method(order.reference, "va:mandiri")

    again = await midtrans.gateway.create_payment(order)

    stored = midtrans.fake.orders[order.reference]
    assert again.external_id == stored["transaction_id"]
    assert again.instructions is not None and again.instructions.number == stored["bill_key"]
    assert midtrans.fake.charge_count(order.reference) == 1


# -- cancel ------------------------------------------------------------------------------------


async def test_cancel_of_a_pending_charge_reads_as_cancelled(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())

    cancelled = await midtrans.gateway.cancel_payment(ref())

    assert cancelled is not None and cancelled.status is S.CANCELLED
    assert midtrans.fake.orders["A7K2Q901"]["transaction_status"] == "cancel"
    assert (await midtrans.gateway.fetch_status(ref())).status is S.CANCELLED


async def test_cancel_of_a_settled_charge_reports_it_paid(midtrans: Harness) -> None:
    await midtrans.gateway.create_payment(checkout())
    midtrans.fake.settle("A7K2Q901")

    result = await midtrans.gateway.cancel_payment(ref())

    assert result is not None and result.status is S.PAID
    assert midtrans.fake.orders["A7K2Q901"]["transaction_status"] == "settlement"


async def test_cancel_of_a_snap_page_without_a_payment_reads_as_pending(
    midtrans: Harness,
) -> None:
    await midtrans.gateway.create_payment(checkout("midtrans:link"))

    result = await midtrans.gateway.cancel_payment(ref(method="midtrans:link"))

    assert result is not None and result.status is S.PENDING


# -- secrets -----------------------------------------------------------------------------------


async def test_no_secret_appears_in_errors_logs_or_repr(
    start: Start, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    midtrans = await start()
    errors: list[PaymentError] = []
    for mode in ("timeout", "500", "429"):
        midtrans.fake.fail_next(mode)  # type: ignore[arg-type]
        with pytest.raises(GatewayUnavailable) as unavailable:
            await midtrans.gateway.create_payment(checkout(reference=f"SECRET{mode[:2]}"))
        errors.append(unavailable.value)
    await midtrans.gateway.create_payment(checkout())
    for call in (
        lambda: midtrans.gateway.parse_callback(
            {}, midtrans.fake.notification("A7K2Q901", forged=True)
        ),
        lambda: midtrans.gateway.parse_callback({}, b"{}"),
    ):
        with pytest.raises(PaymentError) as caught:
            call()
        errors.append(caught.value)
    wrong = await start(key=KEY + "-but-wrong")
    with pytest.raises(GatewayRejected) as rejected:
        await wrong.gateway.create_payment(checkout())
    errors.append(rejected.value)

    basic = base64.b64encode(f"{KEY}:".encode()).decode()
    signature = json.loads(midtrans.fake.notification("A7K2Q901"))["signature_key"]
    texts = [str(e) for e in errors] + [repr(e.args) for e in errors] + [caplog.text]
    texts += [repr(midtrans.gateway), repr(wrong.gateway)]
    for text in texts:
        assert KEY not in text and basic not in text and signature not in text
    assert all(e.__cause__ is None for e in errors)


async def test_the_shipped_snap_url_reaches_midtrans_documented_endpoint(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    """The shipped snap_url is a host; the adapter adds the path Midtrans documents
    (https://app.sandbox.midtrans.com/snap/v1/transactions): asked through a proxy-like fake
    that records the path, the request lands on /snap/v1/transactions exactly."""
    from payments.gateways.midtrans.settings import MidtransSettings

    shipped = MidtransSettings().snap_url
    assert shipped == "https://app.sandbox.midtrans.com"
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"token": "t", "redirect_url": "https://x/snap/v2/vtweb/t"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    server = await aiohttp_server(app)
    root = str(server.make_url("")).rstrip("/")
    gateway = MidtransGateway(
        http, base_url=root, snap_url=root + shipped.partition(".com")[2], server_key=KEY
    )
    await gateway.create_payment(checkout("midtrans:link"))
    assert seen == ["/snap/v1/transactions"]
