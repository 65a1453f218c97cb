"""The Xendit adapter over real HTTP against FakeXendit, plus the shared recorded callbacks."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
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
    PaymentStatus,
)
from payments.gateways.xendit.adapter import STATUS_MAP, XenditGateway
from tests.gateways.xendit.fake import RETRY_AFTER, FakeXendit

KEY = "xnd_development_TESTKEY000000000000000000"  # made up
TOKEN = "xnd-TEST-callback-verification-token-0000000001"  # the recordings' token
TIMEOUT = 2.0  # roomy, so a busy CI machine never times out by accident
SLOW = 3.0  # a "timeout" answer from the fake comes this late, past TIMEOUT
RECORDINGS = Path(__file__).parent / "recordings"
S = PaymentStatus


def checkout(method: str = "xendit:va:bca", reference: str = "A7K2Q901", **kw: Any) -> Checkout:
    values: dict[str, Any] = {
        "reference": reference,
        "amount": 125_000,
        "currency": "IDR",
        "method": MethodId.parse(method),
        "customer": Customer("Budi Santoso", "+6281234567890", "budi@example.com"),
        "description": "Kopi Gayo 1/2 kg",
        "expires_at": datetime.now(UTC) + timedelta(hours=1),
        "callback_url": "https://bot.example.com/callbacks/xendit",
        "return_url": "https://t.me/example_shop_bot",
    }
    return Checkout(**(values | kw))


def ref(external_id: str | None, method: str = "xendit:va:bca") -> PaymentRef:
    return PaymentRef("A7K2Q901", external_id, MethodId.parse(method))


def recording(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def headers(token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-CALLBACK-TOKEN": token}


@dataclass
class Harness:
    fake: FakeXendit
    gateway: XenditGateway


Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start(aiohttp_server: AiohttpServer, http: aiohttp.ClientSession) -> Start:
    async def start(*, key: str = KEY) -> Harness:
        fake = FakeXendit(KEY, TOKEN, slow_seconds=SLOW)
        server = await aiohttp_server(fake.app)
        root = str(server.make_url("")).rstrip("/")
        gateway = XenditGateway(
            http, base_url=root, secret_key=key, callback_token=TOKEN, timeout=TIMEOUT
        )
        return Harness(fake, gateway)

    return start


@pytest.fixture
async def xendit(start: Start) -> Harness:
    return await start()


# -- create ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bank", ["bca", "bni", "bri", "mandiri", "permata", "bsi"])
async def test_va_checkout_gives_the_bank_and_a_va_number(xendit: Harness, bank: str) -> None:
    created = await xendit.gateway.create_payment(checkout(f"xendit:va:{bank}"))
    assert created.status is S.PENDING and created.reference == "A7K2Q901"
    assert created.external_id and created.external_id.startswith("pr-")
    assert created.instructions and created.instructions.kind is MethodKind.VA
    assert created.instructions.bank == bank and created.instructions.number
    sent = xendit.fake.bodies[-1]
    va = sent["payment_method"]["virtual_account"]
    assert va["channel_code"] == bank.upper()
    assert sent["payment_method"]["reusability"] == "ONE_TIME_USE"  # single use, closed amount
    assert sent["amount"] == 125_000 and sent["reference_id"] == "A7K2Q901"


async def test_va_expires_with_the_attempt(xendit: Harness) -> None:
    deadline = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    created = await xendit.gateway.create_payment(checkout(expires_at=deadline))
    props = xendit.fake.bodies[-1]["payment_method"]["virtual_account"]["channel_properties"]
    assert props["expires_at"] == "2030-01-02T03:04:05.678Z"
    assert created.expires_at == deadline


async def test_qris_checkout_gives_the_qr_string(xendit: Harness) -> None:
    created = await xendit.gateway.create_payment(checkout("xendit:qris"))
    assert created.instructions and created.instructions.kind is MethodKind.QRIS
    assert created.instructions.qr_string and created.instructions.qr_string.startswith("0002")


async def test_link_checkout_opens_an_invoice_that_ends_with_the_attempt(
    xendit: Harness,
) -> None:
    created = await xendit.gateway.create_payment(checkout("xendit:link"))
    assert created.instructions and created.instructions.kind is MethodKind.LINK
    assert created.instructions.url and str(created.external_id) in created.instructions.url
    sent = xendit.fake.bodies[-1]
    assert sent["external_id"] == "A7K2Q901" and sent["amount"] == 125_000
    assert 3500 <= sent["invoice_duration"] <= 3600
    assert sent["success_redirect_url"] == "https://t.me/example_shop_bot"


async def test_unsupported_method_or_currency_is_refused_before_calling(
    xendit: Harness,
) -> None:
    for bad in (checkout("xendit:va:cimb"), checkout(currency="TZS"), checkout(amount=0)):
        with pytest.raises(GatewayRejected):
            await xendit.gateway.create_payment(bad)
    assert xendit.fake.calls == []


@pytest.mark.parametrize("method", ["xendit:va:bca", "xendit:qris", "xendit:link"])
async def test_retry_after_a_timeout_that_created_returns_the_same_payment(
    xendit: Harness, method: str
) -> None:
    xendit.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await xendit.gateway.create_payment(checkout(method))
    again = await xendit.gateway.create_payment(checkout(method))
    assert xendit.fake.created("A7K2Q901") == 1
    assert again.external_id == xendit.fake.refs["A7K2Q901"]
    assert again.instructions is not None


async def test_invoice_reference_used_for_another_amount_is_rejected(xendit: Harness) -> None:
    await xendit.gateway.create_payment(checkout("xendit:link"))
    with pytest.raises(GatewayRejected):
        await xendit.gateway.create_payment(checkout("xendit:link", amount=99_000))


async def test_create_during_a_500_or_429_is_unavailable(xendit: Harness) -> None:
    xendit.fake.fail_next("500")
    with pytest.raises(GatewayUnavailable):
        await xendit.gateway.create_payment(checkout())
    xendit.fake.fail_next("429")
    with pytest.raises(GatewayUnavailable) as limited:
        await xendit.gateway.create_payment(checkout())
    assert limited.value.retry_after == RETRY_AFTER
    assert xendit.fake.created("A7K2Q901") == 0


async def test_wrong_secret_key_is_rejected_naming_xendits_error(start: Start) -> None:
    wrong = await start(key=KEY + "-wrong")
    with pytest.raises(GatewayRejected) as rejected:
        await wrong.gateway.create_payment(checkout())
    assert "401 INVALID_API_KEY" in str(rejected.value)


# -- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["xendit:va:bca", "xendit:qris", "xendit:link"])
async def test_a_paid_payment_reads_as_paid_by_id_and_by_reference(
    xendit: Harness, method: str
) -> None:
    created = await xendit.gateway.create_payment(checkout(method))
    xendit.fake.pay("A7K2Q901")
    by_id = await xendit.gateway.fetch_status(ref(created.external_id, method))
    by_reference = await xendit.gateway.fetch_status(ref(None, method))
    for answer in (by_id, by_reference):
        assert (answer.status, answer.amount, answer.reference) == (S.PAID, 125_000, "A7K2Q901")


@pytest.mark.parametrize("raw", sorted(STATUS_MAP))
async def test_each_xendit_status_maps_to_ours(xendit: Harness, raw: str) -> None:
    method = "xendit:link" if raw in ("PAID", "SETTLED") else "xendit:va:bca"
    created = await xendit.gateway.create_payment(checkout(method))
    xendit.fake.set_status("A7K2Q901", raw)
    answer = await xendit.gateway.fetch_status(ref(created.external_id, method))
    assert answer.status is STATUS_MAP[raw] and answer.raw_status == raw


async def test_nothing_created_yet_reads_as_pending(xendit: Harness) -> None:
    for method in ("xendit:va:bca", "xendit:link"):
        answer = await xendit.gateway.fetch_status(ref(None, method))
        assert answer.status is S.PENDING and answer.raw_status is None


async def test_unknown_id_is_rejected(xendit: Harness) -> None:
    with pytest.raises(GatewayRejected):
        await xendit.gateway.fetch_status(ref("pr-unknown"))


async def test_unmapped_status_reads_as_pending_and_warns(
    xendit: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    created = await xendit.gateway.create_payment(checkout())
    xendit.fake.set_status("A7K2Q901", "MYSTERY")
    with caplog.at_level(logging.WARNING):
        answer = await xendit.gateway.fetch_status(ref(created.external_id))
    assert answer.status is S.PENDING and "unmapped status" in caplog.text


async def test_fetch_during_an_outage_is_unavailable(xendit: Harness) -> None:
    created = await xendit.gateway.create_payment(checkout())
    xendit.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await xendit.gateway.fetch_status(ref(created.external_id))


# -- cancel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["xendit:va:bca", "xendit:qris", "xendit:link"])
async def test_cancel_of_a_pending_payment_reads_as_expired(xendit: Harness, method: str) -> None:
    created = await xendit.gateway.create_payment(checkout(method))
    cancelled = await xendit.gateway.cancel_payment(ref(created.external_id, method))
    assert cancelled is not None and cancelled.status is S.EXPIRED


async def test_cancel_of_a_paid_payment_reports_it_paid(xendit: Harness) -> None:
    created = await xendit.gateway.create_payment(checkout("xendit:link"))
    xendit.fake.pay("A7K2Q901")
    cancelled = await xendit.gateway.cancel_payment(ref(created.external_id, "xendit:link"))
    assert cancelled is not None and cancelled.status is S.PAID


# -- callbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(RECORDINGS.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_callbacks_verify_and_read_as_documented(
    xendit: Harness, path: Path
) -> None:
    recorded = recording(path)
    body = json.dumps(recorded["body"]).encode()
    result = xendit.gateway.parse_callback(recorded["http"]["headers"], body)
    assert result.status == recorded["expected"]["canonical_status"]
    assert result.status.is_final == recorded["expected"]["final"]
    data = recorded["body"].get("data", recorded["body"])
    assert result.reference == data.get("reference_id", data.get("external_id"))
    assert result.amount == data.get("paid_amount", data["amount"])
    with pytest.raises(CallbackRejected):
        xendit.gateway.parse_callback(
            {**recorded["http"]["headers"], "x-callback-token": "x"}, body
        )


async def test_a_payment_callback_names_the_payment_request_we_hold(xendit: Harness) -> None:
    created = await xendit.gateway.create_payment(checkout())
    body = json.dumps(xendit.fake.callback("A7K2Q901")).encode()
    result = xendit.gateway.parse_callback(headers(), body)
    assert (result.status, result.external_id) == (S.PAID, created.external_id)


@pytest.mark.parametrize("given", [None, "", TOKEN[:-1], TOKEN + "0", "\udfff"])
async def test_a_missing_or_wrong_token_is_rejected(xendit: Harness, given: str | None) -> None:
    sent = {} if given is None else {"x-callback-token": given}
    with pytest.raises(CallbackRejected):
        xendit.gateway.parse_callback(sent, b'{"external_id": "A", "status": "PAID"}')


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"not json",
        b"[" * 100_000,
        b'{"hello": 1}',
        b'{"external_id": "A7K2Q901", "status": "PAID", "amount": 125000.5}',
        b'{"external_id": "A7K2Q901", "status": 7, "amount": 125000}',
        b'{"external_id": "A7K2Q901", "status": "PAID", "amount": true}',
        b'{"external_id": "A7K2Q901", "status": "PAID", "amount": 1e400}',
        b'{"event": "payment.succeeded", "data": {"reference_id": "A7K2Q901"}}',
    ],
)
async def test_an_unreadable_body_with_a_good_token_is_unreadable(
    xendit: Harness, body: bytes
) -> None:
    with pytest.raises(CallbackUnreadable):
        xendit.gateway.parse_callback(headers(), body)


async def test_no_secret_appears_in_errors_logs_or_repr(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    xendit = await start()
    errors: list[PaymentError] = []
    for mode in ("timeout", "500", "429"):
        xendit.fake.fail_next(mode)
        with pytest.raises(GatewayUnavailable) as unavailable:
            await xendit.gateway.create_payment(checkout())
        errors.append(unavailable.value)
    for token in ("wrong", TOKEN + "x"):
        with pytest.raises(CallbackRejected) as rejected:
            xendit.gateway.parse_callback(headers(token), b"{}")
        errors.append(rejected.value)
    wrong = await start(key=KEY + "-but-wrong")
    with pytest.raises(GatewayRejected) as refused:
        await wrong.gateway.create_payment(checkout())
    errors.append(refused.value)
    basic = base64.b64encode(f"{KEY}:".encode()).decode()
    texts = [str(e) for e in errors] + [repr(e.args) for e in errors] + [caplog.text]
    texts += [repr(xendit.gateway), repr(wrong.gateway)]
    for text in texts:
        assert KEY not in text and basic not in text and TOKEN not in text
    assert all(e.__cause__ is None for e in errors)
