"""iPaymu's wire format: what we sign and send, and how we read what it sends back.

Apart from adapter.py so that the adapter reads as the flow of a payment; the signature
details, the typing of form callbacks and the request fields are the provider's rules.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import parse_qsl

from payments.base import Checkout, Customer, MethodKind
from payments.gateways.parsing import json_object, text_field

# Documented expiry limits in hours; the BCA VA (12 h) and QRIS expiries cannot be set.
_MAX_HOURS: Final[Mapping[str, int]] = {"bri": 2, "bsi": 3}
_FIXED_EXPIRY: Final = frozenset({"bca", "qris"})
# Form callbacks arrive as strings; iPaymu types these before signing (its callback docs).
_INT_FIELDS: Final = ("trx_id", "status_code", "transaction_status_code", "paid_off")
_MAX_DIGITS: Final = 15  # of an amount in rupiah: a thousand trillion is no shop's price


def request_signature(method: str, va: str, body: bytes, api_key: str) -> str:
    """The `signature` header. It hashes the body, so sign exactly the bytes that are sent."""
    text = f"{method.upper()}:{va}:{hashlib.sha256(body).hexdigest()}:{api_key}"
    return hmac.new(api_key.encode(), text.encode(), hashlib.sha256).hexdigest()


def callback_signature(fields: Mapping[str, Any], va: str) -> str:
    """`X-Signature`, keyed by the merchant VA: PHP's json_encode of the key-sorted fields.

    UNCONFIRMED: iPaymu's own examples disagree on typing. We follow its API v2 docs and their
    examples: form values typed as in callback_fields (money stays a string), JSON as received.
    """
    data = {key: value for key, value in fields.items() if key != "signature"}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=float)
    return hmac.new(va.encode(), text.replace("/", "\\/").encode(), hashlib.sha256).hexdigest()


def callback_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """Form (iPaymu's default) or JSON, typed the way iPaymu types them before signing."""
    text = body.decode("utf-8")
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        return json_object(body, parse_float=Decimal)  # money never passes through float
    typed: dict[str, Any] = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    for key in _INT_FIELDS:
        if key in typed and typed[key].removeprefix("-").isdecimal():
            typed[key] = int(typed[key])  # anything else is left as sent: the signature tells
    if "is_escrow" in typed:
        typed["is_escrow"] = typed["is_escrow"].strip().lower() in ("1", "true")
    if typed.get("additional_info", "[]") == "[]":
        typed["additional_info"] = []
    return typed


def money(value: object) -> int | None:
    """Whole rupiah exactly, from 154000, "154000" or "154000.00"; never via float."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, bool | float) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount != amount.to_integral_value():
        raise ValueError(f"amount is not whole rupiah: {value!r:.40}")
    if amount.adjusted() >= _MAX_DIGITS:  # int() of "1e999999999" would build that number
        raise ValueError(f"amount has more than {_MAX_DIGITS} digits: {value!r:.40}")
    return int(amount)


def text(value: object) -> str | None:
    """iPaymu sends ids as numbers or strings, and "" or null for nothing."""
    return text_field(value, blank_is_none=True)


def expiry(checkout: Checkout) -> dict[str, Any]:
    """Whole hours, rounded up so iPaymu never closes before the time we showed the customer."""
    kind, channel = checkout.method.kind, checkout.method.channel or str(checkout.method.kind)
    if channel in _FIXED_EXPIRY:
        return {}  # iPaymu's own Expired comes back in the answer
    seconds = (checkout.expires_at - datetime.now(UTC)).total_seconds()
    hours = min(max(1, math.ceil(seconds / 3600)), _MAX_HOURS.get(channel, 24 * 365))
    # "hours" is the only expiredType every official sample uses; the hosted page has none.
    return {"expired": hours} | ({} if kind is MethodKind.LINK else {"expiredType": "hours"})


def local_phone(phone: str | None) -> str | None:
    """iPaymu's samples use 08..., we hold E.164 (+628...); whether +62 works is UNCONFIRMED."""
    if phone and phone.startswith("+62"):
        return "0" + phone[3:]
    return phone.lstrip("+") if phone else None


def email(buyer: Customer) -> str:
    """iPaymu's direct payment requires an email, which a chat customer seldom gives.

    A placeholder on the reserved .invalid domain (RFC 2606) keeps iPaymu from mailing a
    stranger; receipts reach the customer in the chat instead.
    """
    if buyer.email:
        return buyer.email
    digits = "".join(ch for ch in buyer.phone or "" if ch.isdigit()) or "customer"
    return f"{digits}@customer.invalid"
