"""The Stripe adapter against its fake, through the real SDK: sessions, amounts, webhooks."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import stripe

from payments.base import (
    BelowMinimum,
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    Customer,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    PaymentRef,
    PaymentStatus,
)
from payments.gateways.stripe.adapter import StripeGateway, read_event
from payments.gateways.stripe.amounts import from_stripe, to_stripe
from tests.gateways.stripe.fake import FakeStripe
from tests.gateways.stripe.harness import SECRET_KEY, WEBHOOK_SECRET

RECORDINGS = Path(__file__).parent / "recordings"
LINK = MethodId.parse("stripe:link")
S = PaymentStatus


@pytest.fixture
async def served(aiohttp_server: Any) -> Any:
    fake = FakeStripe(SECRET_KEY, WEBHOOK_SECRET, slow_seconds=1.5)
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        yield fake, http


def gateway(fake: FakeStripe, http: aiohttp.ClientSession, key: str = SECRET_KEY) -> StripeGateway:
    return StripeGateway(
        http, api_base=fake.url, secret_key=key, webhook_secret=WEBHOOK_SECRET, timeout=1
    )


def checkout(reference: str = "A7K2Q901", amount: int = 35_000, currency: str = "IDR") -> Checkout:
    return Checkout(
        reference=reference,
        amount=amount,
        currency=currency,
        method=LINK,
        customer=Customer("Ana", "+6281234567890", "ana@example.com"),
        description="Order A7K2Q9: 1x Kopi Susu",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        callback_url="https://shop.example/callbacks/stripe",
        return_url="https://shop.example/return",
    )


@pytest.mark.parametrize(
    ("amount", "currency", "wire"),
    [(35_000, "IDR", 3_500_000), (15_000, "TZS", 1_500_000), (1_999, "USD", 1_999),
     (500, "JPY", 500), (1_250, "KWD", 1_250), (150_00, "KES", 150_00)],
)  # fmt: skip
def test_amounts_go_to_stripe_in_its_units_and_come_back_in_ours(
    amount: int, currency: str, wire: int
) -> None:
    assert to_stripe(amount, currency) == wire
    assert from_stripe(wire, currency) == amount


def test_an_amount_that_is_not_whole_in_the_shops_units_reads_as_none() -> None:
    assert from_stripe(3_500_050, "IDR") is None


async def test_a_session_is_a_link_in_stripes_units_bound_to_our_reference(served: Any) -> None:
    fake, http = served
    result = await gateway(fake, http).create_payment(checkout())
    assert result.status is S.PENDING and result.reference == "A7K2Q901"
    assert result.instructions is not None and result.instructions.url
    assert result.amount == 35_000 and result.currency == "IDR"
    session = fake.session_for("A7K2Q901")
    assert session["amount_total"] == 3_500_000 and session["currency"] == "idr"
    assert session["metadata"] == {"reference": "A7K2Q901"}


async def test_a_deadline_beyond_24_hours_is_brought_inside_stripes_window(served: Any) -> None:
    fake, http = served
    far = replace(checkout(), expires_at=datetime.now(UTC) + timedelta(days=3))
    result = await gateway(fake, http).create_payment(far)
    assert result.expires_at is not None
    assert result.expires_at <= datetime.now(UTC) + timedelta(hours=24)


async def test_a_retry_of_the_same_attempt_gets_the_same_session(served: Any) -> None:
    fake, http = served
    attempt = checkout()
    first = await gateway(fake, http).create_payment(attempt)
    again = await gateway(fake, http).create_payment(attempt)
    assert first.external_id == again.external_id and fake.created("A7K2Q901") == 1


async def test_a_timeout_is_unavailable_and_the_retry_finds_the_session(served: Any) -> None:
    fake, http = served
    fake.fail_next("timeout")
    attempt = checkout()
    with pytest.raises(GatewayUnavailable):
        await gateway(fake, http).create_payment(attempt)
    again = await gateway(fake, http).create_payment(attempt)
    assert again.instructions is not None and fake.created("A7K2Q901") == 1


async def test_below_stripes_minimum_nothing_is_asked(served: Any) -> None:
    fake, http = served
    with pytest.raises(BelowMinimum) as caught:
        await gateway(fake, http).create_payment(checkout(amount=5_000))
    assert caught.value.minimum == 10_000 and fake.created("A7K2Q901") == 0


async def test_a_wrong_key_is_rejected_without_the_key_in_the_error(served: Any) -> None:
    fake, http = served
    with pytest.raises(GatewayRejected) as caught:
        await gateway(fake, http, key="sk_test_WRONG_secret").create_payment(checkout())
    assert "WRONG_secret" not in str(caught.value) and "401" in str(caught.value)


async def test_status_reads_the_session_and_cancel_expires_it(served: Any) -> None:
    fake, http = served
    stripe_gw = gateway(fake, http)
    made = await stripe_gw.create_payment(checkout())
    ref = PaymentRef("A7K2Q901", made.external_id, LINK)
    assert (await stripe_gw.fetch_status(ref)).status is S.PENDING
    cancelled = await stripe_gw.cancel_payment(ref)
    assert cancelled is not None and cancelled.status is S.EXPIRED
    assert (await stripe_gw.cancel_payment(ref)).status is S.EXPIRED  # type: ignore[union-attr]


async def test_cancel_of_a_paid_session_says_paid(served: Any) -> None:
    fake, http = served
    stripe_gw = gateway(fake, http)
    made = await stripe_gw.create_payment(checkout())
    fake.pay("A7K2Q901")
    result = await stripe_gw.cancel_payment(PaymentRef("A7K2Q901", made.external_id, LINK))
    assert result is not None and result.status is S.PAID


async def test_without_the_sessions_id_the_status_is_pending(served: Any) -> None:
    fake, http = served
    result = await gateway(fake, http).fetch_status(PaymentRef("A7K2Q901", None, LINK))
    assert result.status is S.PENDING and fake.retrievals == 0


# ---- webhooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "session", "status"),
    [
        ("checkout.session.completed", ("complete", "paid"), S.PAID),
        ("checkout.session.completed", ("complete", "unpaid"), S.PROCESSING),
        ("checkout.session.async_payment_succeeded", ("complete", "paid"), S.PAID),
        ("checkout.session.async_payment_failed", ("complete", "unpaid"), S.FAILED),
        ("checkout.session.expired", ("expired", "unpaid"), S.EXPIRED),
    ],
)
async def test_each_session_event_reads_as_its_status(
    served: Any, kind: str, session: tuple[str, str], status: S
) -> None:
    fake, http = served
    stripe_gw = gateway(fake, http)
    await stripe_gw.create_payment(checkout())
    fake.set_status("A7K2Q901", session)
    body = fake.event("A7K2Q901", kind)
    result = stripe_gw.parse_callback({"Stripe-Signature": fake.signed(body)}, body)
    assert result.status is status and result.reference == "A7K2Q901"
    assert result.amount == 35_000 and result.currency == "IDR"


async def test_forged_stale_and_unsigned_webhooks_are_refused(served: Any) -> None:
    fake, http = served
    stripe_gw = gateway(fake, http)
    await stripe_gw.create_payment(checkout())
    body = fake.event("A7K2Q901", "checkout.session.completed")
    stale = fake.signed(body, at=int(time.time()) - 400)  # past the 300 s tolerance
    tampered = body.replace(b"3500000", b"3500001")
    for headers, sent in [
        ({"Stripe-Signature": fake.signed(body, forged=True)}, body),
        ({"Stripe-Signature": stale}, body),
        ({"Stripe-Signature": fake.signed(body)}, tampered),
        ({}, body),
        ({"Stripe-Signature": "t=1,v1=zz"}, b"\xff\xfe"),
    ]:
        with pytest.raises(CallbackRejected):
            stripe_gw.parse_callback(headers, sent)


def test_a_signed_body_that_is_not_an_event_is_unreadable() -> None:
    stripe_gw = StripeGateway(
        aiohttp.ClientSession.__new__(aiohttp.ClientSession),
        api_base="http://127.0.0.1:9",
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        timeout=1,
    )
    for body in (b"[1, 2]", b"[" * 100_000, b'{"type": "checkout.session.completed"}'):
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode(), WEBHOOK_SECRET, int(time.time())
        )
        with pytest.raises(CallbackUnreadable):
            stripe_gw.parse_callback({"Stripe-Signature": header}, body)


def test_a_whole_refund_reads_refunded_and_a_partial_one_leaves_it_paid() -> None:
    charge = {"object": "charge", "metadata": {"reference": "A7K2Q901"}, "refunded": True}
    whole = read_event({"type": "charge.refunded", "data": {"object": charge}})
    part = read_event(
        {"type": "charge.refunded", "data": {"object": {**charge, "refunded": False}}}
    )
    assert (whole.status, whole.reference) == (S.REFUNDED, "A7K2Q901")
    assert part.status is S.PAID


def test_an_event_we_do_not_act_on_names_no_payment() -> None:
    result = read_event({"type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    assert result.reference is None and result.external_id is None


@pytest.mark.parametrize("recording", sorted(RECORDINGS.glob("*.json")), ids=lambda p: p.stem)
def test_the_recorded_webhooks_verify_and_read_as_documented(recording: Path) -> None:
    """Their t is fixed in the past: the signature is checked without the age limit here,
    and the adapter itself refuses them as replays."""
    example = json.loads(recording.read_text())
    body = example["raw_body"].encode()
    header = example["http"]["headers"]["Stripe-Signature"]
    secret = example["signature_check"]["endpoint_secret"]
    assert stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=None)
    result = read_event(json.loads(body))
    assert result.status == example["expected"]["canonical_status"]
    stripe_gw = StripeGateway(
        aiohttp.ClientSession.__new__(aiohttp.ClientSession),
        api_base="http://127.0.0.1:9",
        secret_key=SECRET_KEY,
        webhook_secret=secret,
        timeout=1,
    )
    with pytest.raises(CallbackRejected):  # a replay long after its time
        stripe_gw.parse_callback({"Stripe-Signature": header}, body)
