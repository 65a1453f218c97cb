"""ClickPesa's wire format: the checksum, the phone number, the bodies we send and the fields
we read back (docs: https://docs.clickpesa.com, and ../shared/gateways/clickpesa.md here).

Apart from adapter.py so that the adapter reads as the flow of a payment. ClickPesa has two
spellings for most fields (the current docs' `collectedAmount`/`customer.customerName` and an
older `amount`/`customer.name`); readers here take either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import phonenumbers

from payments.base import Checkout
from payments.gateways.parsing import text_field, utf8

METHODS: Final = frozenset({"ussd"})
COUNTRY: Final = "TZ"
# Fields the checksum never covers: the signature itself and how it was made.
UNSIGNED: Final = ("checksum", "checksumMethod")
_REFERENCE_RE: Final = re.compile(r"^[A-Za-z0-9]+$")
_MAX_SHILLINGS: Final = 10**12
_MOBILE: Final = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def canonical(payload: Mapping[str, Any], *, ascii_only: bool = True) -> str:
    """The text ClickPesa signs (its "canonical" method, the default since January 2026): the
    payload without UNSIGNED, keys sorted at every level, compact JSON. ValueError where the
    payload nests too deeply to serialize (a hostile webhook)."""
    kept = {k: v for k, v in payload.items() if k not in UNSIGNED}
    try:
        return json.dumps(
            kept, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only, default=_number
        )
    except RecursionError:
        raise ValueError("payload nested too deeply") from None


def _number(value: object) -> float:
    """A webhook read with Decimal for its money is checked as the shortest float text, as
    JavaScript's JSON.stringify writes numbers (UNCONFIRMED what ClickPesa's signer uses; its
    docs ask for strings for this very reason)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def checksum(payload: Mapping[str, Any], key: str, *, ascii_only: bool = True) -> str:
    """hex HMAC-SHA256 of `canonical(payload)` with the account's checksum key."""
    text = canonical(payload, ascii_only=ascii_only)
    return hmac.new(utf8(key), utf8(text), hashlib.sha256).hexdigest()


def signed(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The body with its checksum, where the account has one; else as it is."""
    return {**body, "checksum": checksum(body, key)} if key else dict(body)


def checksum_matches(payload: Mapping[str, Any], given: str, key: str) -> bool:
    """Constant-time, over both renderings of non-ASCII text: which one ClickPesa signs a
    webhook with (an accented customer name, say) is UNCONFIRMED; for ASCII they are one."""
    wanted = utf8(given.strip().lower())
    found = False
    for ascii_only in (True, False):
        mac = utf8(checksum(payload, key, ascii_only=ascii_only))
        found |= hmac.compare_digest(mac, wanted)
    return found


def msisdn(phone: str | None) -> phonenumbers.PhoneNumber | None:
    """The customer's phone as a Tanzanian mobile number, or None when it is not one."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, COUNTRY)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(number) != COUNTRY:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _MOBILE:
        return None
    return number


def wire_phone(number: phonenumbers.PhoneNumber) -> str:
    """`2557XXXXXXXX` (or 2556...): country code and national number, no `+`."""
    return f"{number.country_code}{number.national_number}"


def shown_phone(number: phonenumbers.PhoneNumber) -> str:
    """As Tanzanians write it, for the chat: `0712 345 678`."""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def good_reference(reference: str) -> bool:
    return bool(_REFERENCE_RE.match(reference))


def push_body(checkout: Checkout, phone: str) -> dict[str, Any]:
    """preview- and initiate-ussd-push-request: every value a string, so that the checksum
    is the same whoever renders the numbers."""
    return {
        "amount": str(checkout.amount),
        "currency": "TZS",
        "orderReference": checkout.reference,
        "phoneNumber": phone,
    }


def shillings(value: object) -> int | None:
    """An amount as whole shillings: ClickPesa sends a number in status answers and a string
    in webhooks. None for anything else; cents are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        return None
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not exact.is_finite() or exact != exact.to_integral_value():
        return None
    return int(exact) if 0 <= exact < _MAX_SHILLINGS else None


def amount_field(data: Mapping[str, Any]) -> object:
    return data["collectedAmount"] if "collectedAmount" in data else data.get("amount")


def currency_field(data: Mapping[str, Any]) -> str | None:
    value = data["collectedCurrency"] if "collectedCurrency" in data else data.get("currency")
    return text_field(value, blank_is_none=True)


def id_field(data: Mapping[str, Any]) -> str | None:
    value = data["id"] if "id" in data else data.get("paymentId")
    return text_field(value, blank_is_none=True)


def customer_phone(data: Mapping[str, Any]) -> str | None:
    """Who paid, in either spelling; for the event log only, never trusted."""
    who = data.get("customer")
    if not isinstance(who, dict):
        return text_field(data.get("paymentPhoneNumber"), blank_is_none=True)
    value = who["customerPhoneNumber"] if "customerPhoneNumber" in who else who.get("phone")
    return text_field(value, blank_is_none=True)


def event_name(envelope: Mapping[str, Any]) -> str | None:
    """`event` in the current docs, `eventType` in an older sample of PAYMENT FAILED."""
    value = envelope["event"] if "event" in envelope else envelope.get("eventType")
    return value if isinstance(value, str) else None
