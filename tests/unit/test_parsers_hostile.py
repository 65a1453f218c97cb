"""Whatever a stranger posts, a callback parser answers with our two refusals or a result.

Anything else (RecursionError, UnicodeEncodeError, TypeError...) would become a 500 in the
callback route and, for a signed body, a provider retrying the same bytes for days. The
correctly signed cases sign arbitrary JSON with the test key, so the reading after the
signature check is exercised too, not only the check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.telegram.inbound import read_update, to_inbound
from payments.base import CallbackRejected, CallbackUnreadable, PaymentResult, PaymentStatus
from payments.gateways.ipaymu.adapter import IpaymuGateway
from payments.gateways.midtrans.adapter import MidtransGateway
from payments.gateways.mpesa.adapter import MpesaGateway
from payments.gateways.sandbox.adapter import SIGNATURE_HEADER, SandboxGateway
from payments.gateways.stripe.adapter import StripeGateway
from payments.gateways.xendit.adapter import XenditGateway
from tests.gateways.ipaymu.fake import php_json, sign_callback
from tests.gateways.midtrans.fake import signature

SECRET, SERVER_KEY, VA = "hostile-secret", "SB-Mid-server-HOSTILE", "0000001234567890"
XENDIT_TOKEN = "xnd-hostile-callback-token"
PARSERS = ["sandbox", "midtrans", "ipaymu", "xendit", "stripe", "mpesa"]
STRIPE_SECRET = "whsec_test_hostile_0123456789"
MPESA_SECRET = "mpesa-hostile-consumer-secret"
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
Parse = Callable[[dict[str, str], bytes], PaymentResult]

# Strings with what breaks naive code: lone surrogates, NUL, non-BMP, long digit runs.
texts = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["\udfff", "\ud800x", "\x00", "9" * 5000, "1e999999999", "NaN", "-0", "١٢٣", "𝟙𝟚"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


HOSTILE_BODIES = [
    b"",
    b"[" * 100_000,
    deep(50_000),
    deep(900),  # shallow enough to parse, deep enough for json.dumps to recurse past the limit
    b'{"signature_key": "\\udfff", "order_id": "\\udfff", "status_code": "", "gross_amount": ""}',
    b'{"status": "PAID", "amount": 1' + b"0" * 5000 + b"}",
    b'{"sub_total": "1e999999999", "reference_id": "A", "trx_id": 1, "status_code": 1}',
    b'{"amount": NaN, "x": Infinity, "y": -Infinity}',
    b"\xff\xfe\x00",
    b"null",
    b"[]",
    b'"text"',
    b"a=%ff&b=\xed\xbf\xbf",
]
header_values = texts.map(lambda t: t[:200])
headers = st.dictionaries(
    st.sampled_from(
        [
            SIGNATURE_HEADER,
            "x-sandbox-signature",
            "X-Signature",
            "Content-Type",
            "x-signature",
            "x-callback-token",
        ]
    )
    | texts,
    header_values,
    max_size=4,
)


@pytest.fixture
async def gateways(http: aiohttp.ClientSession) -> AsyncIterator[dict[str, Parse]]:
    """The parsers are pure: the session is there because the constructors take one."""
    url = "http://127.0.0.1:9"
    yield {
        "sandbox": SandboxGateway(http, base_url=url, secret=SECRET).parse_callback,
        "midtrans": MidtransGateway(
            http, base_url=url, snap_url=url, server_key=SERVER_KEY
        ).parse_callback,
        "ipaymu": IpaymuGateway(http, base_url=url, va=VA, api_key="k").parse_callback,
        "xendit": XenditGateway(
            http, base_url=url, secret_key="k", callback_token=XENDIT_TOKEN
        ).parse_callback,
        "stripe": StripeGateway(
            http, api_base=url, secret_key="sk_test_k", webhook_secret=STRIPE_SECRET, timeout=1
        ).parse_callback,
        "mpesa": _tokened(mpesa_gateway(http)),  # with a good URL token: the body is read
    }


def mpesa_gateway(http: aiohttp.ClientSession) -> MpesaGateway:
    return MpesaGateway(
        http,
        base_url="http://127.0.0.1:9",
        consumer_key="k",
        consumer_secret=MPESA_SECRET,
        shortcode="174379",
        passkey="p",
    )


def _tokened(gateway: MpesaGateway) -> Parse:
    token = gateway.callback_url("http://x/callbacks/mpesa", "A7K2Q901").rsplit("/", 1)[1]
    return lambda head, body: gateway.parse_tokened_callback(token, head, body)


def answers_only_with_our_refusals(parse: Parse, head: dict[str, str], body: bytes) -> None:
    try:
        result = parse(head, body)
    except (CallbackRejected, CallbackUnreadable):
        return
    assert isinstance(result, PaymentResult)
    assert result.amount is None or type(result.amount) is int


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
@pytest.mark.parametrize("name", PARSERS)
def test_a_known_hostile_body_is_refused_by_every_parser(
    gateways: dict[str, Parse], name: str, body: bytes
) -> None:
    tokened = {"x-callback-token": XENDIT_TOKEN}
    for head in ({}, {"Content-Type": "application/json"}, {"X-Signature": "\udfff"}, tokened):
        answers_only_with_our_refusals(gateways[name], head, body)


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(head=headers, body=st.binary(max_size=300))
def test_arbitrary_bytes_and_headers_are_refused_or_read(
    gateways: dict[str, Parse], name: str, head: dict[str, str], body: bytes
) -> None:
    answers_only_with_our_refusals(gateways[name], head, body)


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(head=headers, data=st.dictionaries(texts, json_values, max_size=6) | json_values)
def test_arbitrary_json_is_refused_or_read(
    gateways: dict[str, Parse], name: str, head: dict[str, str], data: Any
) -> None:
    answers_only_with_our_refusals(gateways[name], head, json.dumps(data).encode())


SANDBOX_FIELDS = ("reference", "id", "status", "amount", "currency", "method", "expires_at")
MIDTRANS_FIELDS = ("transaction_status", "fraud_status", "transaction_id", "va_numbers")
IPAYMU_FIELDS = ("reference_id", "trx_id", "status_code", "sub_total", "amount", "expired_at")


def field_maps(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that have the fields a parser reads, each holding anything at all."""
    known = st.fixed_dictionaries({}, optional={name: json_values for name in names})
    return st.tuples(known, st.dictionaries(texts, json_values, max_size=3)).map(
        lambda pair: pair[1] | pair[0]
    )


@FUZZ
@given(data=field_maps((*SANDBOX_FIELDS, "instructions", "failure_reason")))
def test_a_signed_sandbox_body_of_any_shape_is_read_or_refused(
    gateways: dict[str, Parse], data: dict[str, Any]
) -> None:
    body = json.dumps(data).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    answers_only_with_our_refusals(gateways["sandbox"], {SIGNATURE_HEADER: sig}, body)


@FUZZ
@given(
    data=field_maps((*MIDTRANS_FIELDS, "actions", "payment_type", "expiry_time")),
    order=st.text(st.characters(exclude_categories=["Cs"]), max_size=20),  # the fake can sign
    gross=st.sampled_from(["10000.00", "10000", "1e5", "-1", "9" * 16, "10.50", ""]),
)
def test_a_signed_midtrans_body_of_any_shape_is_read_or_refused(
    gateways: dict[str, Parse], data: dict[str, Any], order: str, gross: str
) -> None:
    signed = {"order_id": order, "status_code": "200", "gross_amount": gross}
    data |= signed | {"signature_key": signature(order, "200", gross, SERVER_KEY)}
    answers_only_with_our_refusals(gateways["midtrans"], {}, json.dumps(data).encode())


XENDIT_FIELDS = ("external_id", "status", "amount", "paid_amount", "id", "expiry_date")
XENDIT_EVENT = ("reference_id", "status", "amount", "payment_request_id", "payment_method")


@FUZZ
@given(
    data=field_maps((*XENDIT_FIELDS, "callback_virtual_account_id", "payment_id", "event"))
    | field_maps(("event",)).map(lambda d: d | {"event": "payment.succeeded"}),
    inner=field_maps(XENDIT_EVENT),
)
def test_a_tokened_xendit_body_of_any_shape_is_read_or_refused(
    gateways: dict[str, Parse], data: dict[str, Any], inner: dict[str, Any]
) -> None:
    """The token binds nothing, so anyone holding it reaches the reading: it must hold too."""
    if data.get("event") == "payment.succeeded":
        data["data"] = inner
    head = {"x-callback-token": XENDIT_TOKEN}
    answers_only_with_our_refusals(gateways["xendit"], head, json.dumps(data).encode())


MPESA_FIELDS = ("MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc")
MPESA_ITEMS = st.lists(
    st.fixed_dictionaries(
        {"Name": st.sampled_from(["Amount", "MpesaReceiptNumber", "Balance", "PhoneNumber"])},
        optional={"Value": json_values},
    )
    | json_values,
    max_size=5,
)


@FUZZ
@given(
    inner=field_maps(MPESA_FIELDS),
    items=MPESA_ITEMS,
    code=st.sampled_from([0, 1032, "0", 0.0, -1, 10**30]) | json_values,
)
def test_a_tokened_mpesa_body_of_any_shape_is_read_or_refused(
    gateways: dict[str, Parse], inner: dict[str, Any], items: Any, code: Any
) -> None:
    """The URL token is all that guards the reading (Daraja signs nothing): it must hold."""
    inner |= {"ResultCode": code, "CallbackMetadata": {"Item": items}}
    body = json.dumps({"Body": {"stkCallback": inner}}).encode()
    answers_only_with_our_refusals(gateways["mpesa"], {}, body)


@FUZZ
@given(token=st.text(max_size=120))
def test_any_mpesa_url_token_but_ours_is_refused(http: aiohttp.ClientSession, token: str) -> None:
    gateway = mpesa_gateway(http)
    with pytest.raises(CallbackRejected):
        gateway.parse_tokened_callback(token, {}, b"{}")


STRIPE_SESSION = ("id", "client_reference_id", "status", "payment_status", "amount_total",
                  "currency", "url", "expires_at", "metadata", "refunded")  # fmt: skip
STRIPE_TYPES = ("checkout.session.completed", "checkout.session.expired", "charge.refunded",
                "checkout.session.async_payment_failed", "invoice.paid")  # fmt: skip


@FUZZ
@given(
    kind=st.sampled_from(STRIPE_TYPES) | st.text(max_size=30),
    obj=field_maps(STRIPE_SESSION),
    wrap=st.booleans(),
)
def test_a_signed_stripe_event_of_any_shape_is_read_or_refused(
    gateways: dict[str, Parse], kind: str, obj: dict[str, Any], wrap: bool
) -> None:
    """Signed with the endpoint's secret, so it reaches the reading, which must hold."""
    event: Any = {"type": kind, "data": {"object": obj}} if wrap else obj
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        body, STRIPE_SECRET, int(time.time())
    )
    answers_only_with_our_refusals(gateways["stripe"], {"Stripe-Signature": header}, body.encode())


@FUZZ
@given(data=field_maps(IPAYMU_FIELDS))
def test_a_signed_ipaymu_body_of_any_shape_is_read_or_refused(
    gateways: dict[str, Parse], data: dict[str, Any]
) -> None:
    head = {"Content-Type": "application/json", "X-Signature": sign_callback(data, VA)}
    answers_only_with_our_refusals(gateways["ipaymu"], head, php_json(data).encode())


def test_correctly_signed_callbacks_still_read_as_paid(gateways: dict[str, Parse]) -> None:
    sandbox = {"reference": "A7K2Q901", "id": "sbx_1", "status": "PAID", "amount": 15000}
    sandbox |= {"currency": "IDR", "method": "va:bca"}
    body = json.dumps(sandbox).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    midtrans = {"order_id": "A7K2Q901", "status_code": "200", "gross_amount": "15000.00"}
    midtrans |= {"transaction_status": "settlement", "transaction_id": "tx-1"}
    midtrans["signature_key"] = signature("A7K2Q901", "200", "15000.00", SERVER_KEY)
    ipaymu = {"reference_id": "A7K2Q901", "trx_id": 77, "status_code": 1, "sub_total": "15000"}
    ipaymu_head = {"Content-Type": "application/json", "X-Signature": sign_callback(ipaymu, VA)}
    results = [
        gateways["sandbox"]({SIGNATURE_HEADER: sig}, body),
        gateways["midtrans"]({}, json.dumps(midtrans).encode()),
        gateways["ipaymu"](ipaymu_head, php_json(ipaymu).encode()),
    ]
    assert [(r.reference, r.status, r.amount) for r in results] == [
        ("A7K2Q901", PaymentStatus.PAID, 15000)
    ] * 3


def test_a_signature_with_a_lone_surrogate_is_a_mismatch(gateways: dict[str, Parse]) -> None:
    body = b'{"reference": "A7K2Q901"}'
    with pytest.raises(CallbackRejected):
        gateways["sandbox"]({SIGNATURE_HEADER: "ab\udfff"}, body)
    with pytest.raises(CallbackRejected):
        gateways["ipaymu"]({"X-Signature": "\udfff", "Content-Type": "application/json"}, body)
    midtrans = b'{"order_id": "\\udfff", "status_code": "200", "gross_amount": "1", '
    with pytest.raises(CallbackRejected):
        gateways["midtrans"]({}, midtrans + b'"signature_key": "\\udfff"}')


def test_an_amount_with_a_billion_digits_is_refused_before_it_is_built(
    gateways: dict[str, Parse],
) -> None:
    fields = {"reference_id": "A7K2Q901", "trx_id": 1, "status_code": 1}
    body = php_json(fields | {"sub_total": "1e999999999"}).encode()
    with pytest.raises(CallbackUnreadable, match="digits"):
        gateways["ipaymu"]({"Content-Type": "application/json"}, body)


# ---- the Telegram webhook's reader ------------------------------------------------------------

update_like = st.fixed_dictionaries(
    {"update_id": json_values},
    optional={
        "message": st.fixed_dictionaries(
            {"message_id": json_values, "date": json_values, "chat": json_values},
            optional={"text": json_values, "from": json_values, "contact": json_values},
        ),
        "callback_query": json_values,
    },
)


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_webhook_reader_never_raises_on_any_body(body: bytes) -> None:
    read_update(body, None)


@settings(max_examples=500, deadline=None)
@given(data=update_like)
def test_a_readable_update_of_any_shape_becomes_an_inbound_or_nothing(data: Any) -> None:
    update = read_update(json.dumps(data).encode(), None)
    if update is not None:
        to_inbound(update, "shop_bot")


@pytest.mark.parametrize(
    "body", [b"not json", b"[1]", b"[" * 100_000, b'{"update_id": 1, "message": 5}', b"\xff"]
)
def test_an_unreadable_update_is_one_warning_line_without_a_traceback(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.channels.telegram.inbound")
    assert read_update(body, None) is None
    [record] = caplog.records
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "\n" not in record.getMessage()
