"""Every customer-facing string is translated; money and times read as people write them."""

from __future__ import annotations

import re
import string
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot import texts
from bot.config import load_config
from bot.texts.update import extract_messages, read_catalog, source_files
from tests.conftest import ROOT

LANGUAGES = texts.LANGUAGES


def placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name is not None}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_in_the_code_is_translated(language: str) -> None:
    catalog = read_catalog(language)
    missing = [m for m in extract_messages() if not getattr(catalog.get(m), "string", "")]
    assert not missing, f"run `python -m bot.texts.update` and translate: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_and_the_catalog_has_no_leftovers(
    language: str,
) -> None:
    catalog = read_catalog(language)
    used = extract_messages()
    for message in catalog:
        if not message.id:
            continue
        assert message.id in used, f"{language}: unused message {message.id!r}"
        assert placeholders(str(message.string)) == placeholders(str(message.id)), message.id


def test_the_catalogs_load_into_gettext_at_runtime() -> None:
    assert texts.translator("id")("Cart") == "Keranjang"
    assert texts.translator("sw")("Cart") == "Kikapu"
    assert texts.translator("en")("Cart") == "Cart"
    assert texts.translator("fr")("Cart") == "Cart"  # unknown language: English
    assert not list((ROOT / "bot" / "texts").rglob("*.mo"))


def test_no_translated_call_hides_inside_an_f_string() -> None:
    """Extraction cannot see `f"{t('...')}"`; such a string would never be translated."""
    pattern = re.compile(r"""f["'][^"']*\{[^}]*\bt\(""")
    offenders = [
        f"{path.name}:{number}"
        for path in source_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders


@pytest.mark.parametrize(
    ("amount", "currency", "language", "country", "expected"),
    [
        (125000, "IDR", "id", "ID", "Rp 125.000"),
        (125000, "IDR", "en", "ID", "Rp 125.000"),
        (125000, "IDR", "sw", "ID", "IDR 125,000"),
        (5000, "TZS", "sw", "TZ", "TSh 5,000"),
        (1999, "USD", "en", "", "$ 19.99"),
    ],
)
def test_money_has_no_decimals_for_rupiah_and_shillings(
    amount: int, currency: str, language: str, country: str, expected: str
) -> None:
    assert texts.format_money(amount, currency, language, country) == expected


def test_times_are_shown_in_the_shops_zone() -> None:
    moment = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert texts.format_when(moment, "Asia/Jakarta", "id", "ID") == "23 Nov, 10:00 WIB"
    assert texts.format_when(moment, "Africa/Dar_es_Salaam", "sw", "TZ") == "23 Nov, 06:00 EAT"


def test_language_hints_map_to_offered_languages() -> None:
    assert texts.supported("en-US") == "en" and texts.supported("id") == "id"
    assert texts.supported("sw_KE") == "sw" and texts.supported("fr") == ""
    assert texts.supported("en", ("id",)) == ""


def test_the_packaged_demo_config_says_what_config_toml_says() -> None:
    """`checkout-bot demo` outside the repository reads this copy; keep it in step."""
    shipped = load_config(ROOT / "config.toml", environ={})
    packaged = load_config(ROOT / "bot" / "config" / "default.toml", environ={})
    assert replace(packaged, path=shipped.path) == shipped, (
        "run: cp config.toml bot/config/default.toml"
    )
