"""QRIS payloads: the CRC, the TLV layout, and the PNG the chat sends."""

from __future__ import annotations

import struct
import zlib

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from payments.qris import (
    build_qris,
    crc16_ccitt,
    parse_emv,
    render_png,
    tlv,
    validate_qris,
    with_crc,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def build(**overrides: object) -> str:
    fields: dict[str, object] = {
        "merchant_name": "Warung Kopi Susu",
        "city": "Jakarta",
        "amount": 125_000,
        "reference": "A7K2Q901",
    }
    fields.update(overrides)
    return build_qris(**fields)  # type: ignore[arg-type]


def test_crc_matches_the_published_check_value() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1


def test_built_string_parses_back_into_its_fields() -> None:
    fields = parse_emv(build())
    assert fields["00"] == "01"
    assert fields["01"] == "12"
    assert fields["52"] == "5499"
    assert fields["53"] == "360"
    assert fields["54"] == "125000"
    assert fields["58"] == "ID"
    assert fields["59"] == "Warung Kopi Susu"
    assert fields["60"] == "Jakarta"
    assert parse_emv(fields["62"]) == {"01": "A7K2Q901"}
    account = parse_emv(fields["26"])
    assert account["00"] == "ID.CO.QRIS.WWW"
    assert account["01"].startswith("9360")
    assert list(fields)[-1] == "63"


def test_every_length_prefix_counts_its_value() -> None:
    payload, pos = build(), 0
    while pos < len(payload):
        length = int(payload[pos + 2 : pos + 4])
        value = payload[pos + 4 : pos + 4 + length]
        assert len(value) == length
        pos += 4 + length
    assert pos == len(payload)


def test_crc_covers_everything_up_to_and_including_its_own_tag() -> None:
    payload = build()
    assert payload[-8:-4] == "6304"
    assert payload[-4:] == f"{crc16_ccitt(payload[:-4].encode()):04X}"
    assert payload[-4:] == payload[-4:].upper()


def test_a_changed_digit_fails_validation() -> None:
    payload = build()
    tampered = payload.replace("125000", "925000")
    with pytest.raises(ValueError, match="CRC"):
        validate_qris(tampered)


def test_long_or_accented_display_names_are_folded_and_shortened() -> None:
    fields = parse_emv(
        build(merchant_name="Kedai Ñasi Goreng Pak Budi Sentosa", city="Kota Tangerang Selatan")
    )
    assert fields["59"] == "Kedai Nasi Goreng Pak Bud"
    assert fields["60"] == "Kota Tangerang"


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 10**13},
        {"reference": "R" * 26},
        {"reference": ""},
    ],
)
def test_bad_amounts_and_references_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build(**overrides)


@pytest.mark.parametrize("payload", ["0002", "000201ab", "00020101", "0002010002"])
def test_malformed_tlv_is_refused(payload: str) -> None:
    with pytest.raises(ValueError):
        parse_emv(payload)


def test_tlv_refuses_an_empty_or_overlong_value() -> None:
    with pytest.raises(ValueError):
        tlv("59", "")
    with pytest.raises(ValueError):
        tlv("59", "x" * 100)


def test_png_is_a_png_of_the_size_segno_draws() -> None:
    payload = build()
    png = render_png(payload, scale=4)
    assert png.startswith(PNG_SIGNATURE)
    ihdr_length, ihdr_type = struct.unpack(">I4s", png[8:16])
    width, height = struct.unpack(">II", png[16:24])
    assert (ihdr_type, ihdr_length) == (b"IHDR", 13)
    assert (width, height) == segno.make_qr(payload, error="m").symbol_size(scale=4)
    assert zlib.crc32(png[12:29]) == struct.unpack(">I", png[29:33])[0]


references = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=25
)


@given(amount=st.integers(min_value=1, max_value=10**13 - 1), reference=references)
def test_any_amount_and_reference_make_a_valid_code(amount: int, reference: str) -> None:
    payload = build(amount=amount, reference=reference)
    fields = validate_qris(payload)
    assert fields["54"] == str(amount)
    assert parse_emv(fields["62"])["01"] == reference


@given(body=st.text(alphabet="0123456789ABCDEF", max_size=80))
def test_with_crc_always_appends_a_valid_checksum(body: str) -> None:
    signed = with_crc(body)
    assert signed[:-4] == body + "6304"
    assert int(signed[-4:], 16) == crc16_ccitt(signed[:-4].encode())
