"""Xendit's wire format: the bodies we send and the fields we read back.

Apart from adapter.py so that the adapter reads as the flow of a payment. Two Xendit products
serve our methods: the Invoice API for `link` (a hosted page) and the Payment Requests API for
`va:<bank>` and `qris` (a one-time, closed-amount VA or a dynamic QR that expires with the
attempt), which honours an `idempotency-key` header; invoices get none, so the adapter looks
for an invoice by our reference before it creates one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from payments.base import Checkout, Instructions, MethodKind
from payments.gateways.parsing import text_field

VA_BANKS: Final = ("bca", "bni", "bri", "mandiri", "permata", "bsi")
METHODS: Final = frozenset({"link", "qris", *(f"va:{bank}" for bank in VA_BANKS)})
_MAX_RUPIAH: Final = 10**15  # a thousand trillion is no shop's price


def iso(moment: datetime) -> str:
    """Xendit's timestamps: UTC with milliseconds and a Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else None
    except (ValueError, OverflowError):  # "0001-01-01T00:00:00+01:00" is before year 1 in UTC
        return None


def invoice_body(checkout: Checkout, now: datetime) -> dict[str, Any]:
    """POST /v2/invoices. invoice_duration in whole seconds, never past our own deadline."""
    seconds = max(1, int((checkout.expires_at - now).total_seconds()))
    who = checkout.customer
    customer = {"given_names": who.name, "email": who.email, "mobile_number": who.phone}
    body: dict[str, Any] = {
        "external_id": checkout.reference,
        "amount": checkout.amount,
        "currency": "IDR",
        "description": checkout.description,
        "invoice_duration": seconds,
        "customer": {k: v for k, v in customer.items() if v},
    }
    if who.email:
        body["payer_email"] = who.email
    if checkout.return_url:
        body["success_redirect_url"] = body["failure_redirect_url"] = checkout.return_url
    return body


def payment_request_body(checkout: Checkout) -> dict[str, Any]:
    """POST /payment_requests: one-time use, so a VA takes exactly one payment of `amount`."""
    expires = iso(checkout.expires_at)
    if checkout.method.kind is MethodKind.QRIS:
        method: dict[str, Any] = {
            "type": "QR_CODE",
            "qr_code": {"channel_code": "QRIS", "channel_properties": {"expires_at": expires}},
        }
    else:
        bank = str(checkout.method.channel).upper()
        props = {"customer_name": checkout.customer.name[:50] or "Customer", "expires_at": expires}
        method = {
            "type": "VIRTUAL_ACCOUNT",
            "virtual_account": {"channel_code": bank, "channel_properties": props},
        }
    method |= {"reusability": "ONE_TIME_USE", "reference_id": checkout.reference}
    return {
        "reference_id": checkout.reference,
        "amount": checkout.amount,
        "currency": "IDR",
        "country": "ID",
        "description": checkout.description,
        "payment_method": method,
    }


def rupiah(value: object) -> int | None:
    """An amount as whole rupiah; None for anything else (sen are refused, never rounded)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return None
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite() or exact != exact.to_integral_value():
        return None
    return int(exact) if 0 <= exact < _MAX_RUPIAH else None


def invoice_instructions(data: Mapping[str, Any]) -> Instructions | None:
    url = text_field(data.get("invoice_url"), blank_is_none=True)
    return Instructions(MethodKind.LINK, url=url) if url else None


def request_instructions(data: Mapping[str, Any]) -> Instructions | None:
    """The VA number or QR string inside a payment request's payment_method."""
    method = _object(data.get("payment_method"))
    va, qr = _object(method.get("virtual_account")), _object(method.get("qr_code"))
    if va:
        props = _object(va.get("channel_properties"))
        bank = text_field(va.get("channel_code"))
        number = text_field(props.get("virtual_account_number"), blank_is_none=True)
        return Instructions(MethodKind.VA, bank.lower() if bank else None, number)
    if qr:
        props = _object(qr.get("channel_properties"))
        return Instructions(MethodKind.QRIS, qr_string=text_field(props.get("qr_string")))
    return None


def request_expiry(data: Mapping[str, Any]) -> datetime | None:
    method = _object(data.get("payment_method"))
    inner = _object(method.get("virtual_account")) or _object(method.get("qr_code"))
    return parse_iso(_object(inner.get("channel_properties")).get("expires_at"))


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
