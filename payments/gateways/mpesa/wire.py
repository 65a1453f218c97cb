"""Daraja's wire format: the STK push and query bodies, the password, the callback's fields,
the phone, the amount and the callback URL's token.

Apart from adapter.py so that the adapter reads as the flow of a payment. Reference:
/work/shared/gateways/mpesa.md in the project notes (docs/gateways/mpesa.md for operators).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import phonenumbers

from payments.gateways.parsing import text_field, utf8

METHODS: Final = frozenset({"ussd"})
# East Africa Time: Daraja reads Timestamp as Kenyan wall-clock time. Kenya has no daylight
# saving time, so a fixed offset is exact.
EAT: Final = timezone(timedelta(hours=3), "EAT")
TRANSACTION_TYPES: Final = {"paybill": "CustomerPayBillOnline", "till": "CustomerBuyGoodsOnline"}
ACCOUNT_REFERENCE_MAX: Final = 12  # shown to the customer in the prompt
DESCRIPTION_MAX: Final = 13  # UNCONFIRMED against Safaricom's own page (SDK documentation)
CENTS: Final = 100  # the shop keeps KES in cents (ISO 4217); Daraja takes whole shillings
_MAX_SHILLINGS: Final = 10**9
TOKEN_LABEL: Final = b"checkout-bot mpesa callback token v1"
TOKEN_MAC_CHARS: Final = 32  # hex: 128 bits


def timestamp(moment: datetime) -> str:
    """`YYYYMMDDHHmmss` in Kenyan time, the same value in Password and Timestamp."""
    return moment.astimezone(EAT).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, stamp: str) -> str:
    """base64(shortcode + passkey + timestamp): plain concatenation, standard Base64."""
    return base64.b64encode(utf8(shortcode + passkey + stamp)).decode("ascii")


def shillings(amount: int) -> int | None:
    """KES cents as the whole shillings Daraja takes; None where cents would be lost."""
    whole, cents = divmod(amount, CENTS)
    return whole if cents == 0 and whole >= 1 else None


def cents(value: object) -> int | None:
    """A callback's Amount (150 or 150.0) as KES cents; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return None
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite() or exact != exact.to_integral_value():
        return None
    return int(exact) * CENTS if 0 <= exact < _MAX_SHILLINGS else None


def msisdn(phone: str | None) -> str | None:
    """A Kenyan mobile number as Daraja wants it, `2547XXXXXXXX` or `2541XXXXXXXX`; None for
    a number that is not one (another country's, a landline, a typo)."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, "KE")
    except phonenumbers.NumberParseException:
        return None
    national = str(number.national_number)
    if number.country_code != 254 or len(national) != 9 or national[0] not in "71":
        return None
    return f"254{national}" if phonenumbers.is_valid_number(number) else None


def shown_phone(wire_phone: str) -> str:
    """The number as a Kenyan customer writes it: `0712 345678`."""
    number = phonenumbers.parse("+" + wire_phone)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def callback_token(key: bytes, reference: str) -> str:
    """The unguessable last segment of one payment's CallBackURL: `<reference>.<mac>`.

    Derived, not stored: an HMAC of our reference under a key only this server holds, so any
    instance can check it with no database row, and it names the payment it was made for.
    """
    mac = hmac.new(key, utf8(reference), hashlib.sha256).hexdigest()[:TOKEN_MAC_CHARS]
    return f"{reference}.{mac}"


def token_reference(key: bytes, token: str) -> str | None:
    """The reference a token was made for, or None when this server did not make it."""
    reference, dot, _ = token.rpartition(".")
    if not dot or not reference or len(reference) > 64:
        return None
    expected = callback_token(key, reference)
    return reference if hmac.compare_digest(utf8(token), utf8(expected)) else None


def push_body(
    *,
    shortcode: str,
    party_b: str,
    transaction_type: str,
    pwd: str,
    stamp: str,
    amount: int,
    phone: str,
    callback_url: str,
    reference: str,
    description: str,
) -> dict[str, Any]:
    """POST /mpesa/stkpush/v1/processrequest."""
    return {
        "BusinessShortCode": shortcode,
        "Password": pwd,
        "Timestamp": stamp,
        "TransactionType": transaction_type,
        "Amount": amount,
        "PartyA": phone,
        "PartyB": party_b,
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": reference[:ACCOUNT_REFERENCE_MAX],
        "TransactionDesc": description[:DESCRIPTION_MAX] or "Payment",
    }


def stk_callback(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`Body.stkCallback`, the one object an STK callback carries."""
    body = data.get("Body")
    inner = body.get("stkCallback") if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else None


def metadata(callback: Mapping[str, Any]) -> dict[str, Any]:
    """CallbackMetadata's items by Name (never by position); an item without Value is left
    out (Balance often has none). Only a successful payment's callback has any."""
    meta = callback.get("CallbackMetadata")
    items = meta.get("Item") if isinstance(meta, dict) else None
    if not isinstance(items, list):
        return {}
    named = (i for i in items if isinstance(i, dict) and isinstance(i.get("Name"), str))
    return {i["Name"]: i["Value"] for i in named if "Value" in i}


def result_code(value: object) -> str | None:
    """ResultCode as a string: a number in callbacks, a string in query answers."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return text_field(value, blank_is_none=True)
