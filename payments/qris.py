"""QRIS payloads: EMVCo Merchant-Presented Mode strings, their CRC, and the PNG the chat sends.

The sandbox provider builds its QR codes here, and any adapter can check a QRIS string that a
provider hands back before a customer sees it. Format: EMV QR Code Specification for Payment
Systems, Merchant-Presented Mode (EMVCo), as profiled by Bank Indonesia's QRIS standard.
A payload is a run of TLV fields: 2-digit tag, 2-digit length, value; tag 63 (CRC) comes last.
"""

from __future__ import annotations

import io
import unicodedata
from typing import Final

import segno

PAYLOAD_FORMAT: Final = "01"
DYNAMIC: Final = "12"  # point of initiation: one code per payment, amount included
QRIS_GUID: Final = "ID.CO.QRIS.WWW"
# Made up but well formed: 9360 is Indonesia's PAN prefix, 9999 no real acquirer.
SANDBOX_PAN: Final = "9360999900000000019"
SANDBOX_MERCHANT_ID: Final = "ID1020000000001"
MCC_MISC_FOOD_STORES: Final = "5499"
MERCHANT_CRITERIA: Final = "UMI"  # micro business, the smallest QRIS merchant class
CRC_TAG: Final = "6304"
# Tags a payment code must carry (merchant account info may be any of 26..51).
REQUIRED_TAGS: Final = frozenset({"00", "52", "53", "58", "59", "60", "63"})
_MAX_NAME, _MAX_CITY, _MAX_REFERENCE, _MAX_AMOUNT = 25, 15, 25, 13


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, unreflected), the checksum of tag 63."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    """One field; refuses what a scanner would misread rather than emitting it."""
    if not _is_digits(tag, 2):
        raise ValueError(f"not an EMV tag: {tag!r}")
    if not 0 < len(value) <= 99:
        raise ValueError(f"tag {tag}: value length {len(value)} outside 1..99")
    if not (value.isascii() and value.isprintable()):
        raise ValueError(f"tag {tag}: value must be printable ASCII")
    return f"{tag}{len(value):02d}{value}"


def build_qris(
    *,
    merchant_name: str,
    city: str,
    amount: int,
    reference: str,
    currency_numeric: str = "360",
    country: str = "ID",
    merchant_pan: str = SANDBOX_PAN,
    merchant_id: str = SANDBOX_MERCHANT_ID,
    mcc: str = MCC_MISC_FOOD_STORES,
) -> str:
    """A dynamic QRIS payload for one payment, CRC included.

    amount is written as given: IDR has no minor units in practice (DESIGN §3). The merchant
    name and city are display fields, so they are folded to ASCII and shortened to fit; the
    reference identifies the payment, so a bad one is refused instead.
    """
    _check_codes(currency_numeric, country, mcc)
    fields = [
        tlv("00", PAYLOAD_FORMAT),
        tlv("01", DYNAMIC),
        tlv("26", _merchant_account(merchant_pan, merchant_id)),
        tlv("52", mcc),
        tlv("53", currency_numeric),
        tlv("54", _amount(amount)),
        tlv("58", country),
        tlv("59", _display_text(merchant_name, _MAX_NAME, "merchant_name")),
        tlv("60", _display_text(city, _MAX_CITY, "city")),
        tlv("62", tlv("01", _reference(reference))),  # 62.01: bill number
    ]
    return with_crc("".join(fields))


def with_crc(body: str) -> str:
    """Append tag 63: the CRC covers everything before it, its own "6304" included."""
    unsigned = body + CRC_TAG
    return unsigned + f"{crc16_ccitt(unsigned.encode('ascii')):04X}"


def parse_emv(s: str) -> dict[str, str]:
    """Top-level tag -> value. Templates (26, 62) are parsed by calling this on their value."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(s):
        head = s[pos : pos + 4]
        if not _is_digits(head, 4):
            raise ValueError(f"bad TLV header {head!r} at offset {pos}")
        tag, length = head[:2], int(head[2:])
        value = s[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise ValueError(f"tag {tag} at offset {pos} runs past the end")
        if tag in fields:
            raise ValueError(f"tag {tag} appears twice")
        fields[tag] = value
        pos += 4 + length
    return fields


def validate_qris(s: str) -> dict[str, str]:
    """The top-level fields of a well-formed payment code; ValueError says what is wrong."""
    fields = parse_emv(s)
    missing = REQUIRED_TAGS - fields.keys()
    if missing:
        raise ValueError(f"missing tags: {', '.join(sorted(missing))}")
    if fields["00"] != PAYLOAD_FORMAT:
        raise ValueError(f"payload format {fields['00']!r}, want {PAYLOAD_FORMAT!r}")
    if not any("26" <= tag <= "51" for tag in fields):
        raise ValueError("no merchant account information (tags 26..51)")
    body, crc = s[:-4], s[-4:]
    if not body.endswith(CRC_TAG):
        raise ValueError("the CRC is not the last field")
    if crc.upper() != f"{crc16_ccitt(body.encode('utf-8')):04X}":
        raise ValueError("CRC mismatch")
    return fields


def render_png(qr_string: str, scale: int = 8, border: int = 4) -> bytes:
    """The QR image the chat sends; medium error correction survives a phone camera."""
    code = segno.make_qr(qr_string, error="m")
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def _merchant_account(pan: str, merchant_id: str) -> str:
    return "".join(
        [
            tlv("00", QRIS_GUID),
            tlv("01", pan),
            tlv("02", merchant_id),
            tlv("03", MERCHANT_CRITERIA),
        ]
    )


def _check_codes(currency_numeric: str, country: str, mcc: str) -> None:
    if not _is_digits(currency_numeric, 3):
        raise ValueError(f"currency must be an ISO 4217 numeric code: {currency_numeric!r}")
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code: {country!r}")
    if not _is_digits(mcc, 4):
        raise ValueError(f"merchant category code must be 4 digits: {mcc!r}")


def _is_digits(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


def _amount(amount: int) -> str:
    text = str(amount)
    if isinstance(amount, bool) or amount <= 0 or len(text) > _MAX_AMOUNT:
        raise ValueError(f"amount must be a positive integer of at most {_MAX_AMOUNT} digits")
    return text


def _display_text(text: str, limit: int, what: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    printable = " ".join("".join(c for c in folded if c.isprintable()).split())
    if not printable:
        raise ValueError(f"{what} has no printable ASCII characters: {text!r}")
    return printable[:limit].rstrip()


def _reference(reference: str) -> str:
    if not 0 < len(reference) <= _MAX_REFERENCE:
        raise ValueError(f"reference must be 1..{_MAX_REFERENCE} characters: {reference!r}")
    if not (reference.isascii() and reference.isprintable()):
        raise ValueError(f"reference must be printable ASCII: {reference!r}")
    return reference
