"""Every customer-facing string goes through here: gettext catalogs per language, money and time.

The catalogs are the `.po` files next to this module (English msgids), read with Babel at
start-up into in-memory gettext translations; no compiled `.mo` files are kept. After adding or
changing a string in the code, run `python -m bot.texts.update` and translate what it reports
(tests/unit/test_flow_texts.py fails until every message is translated).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_precision
from babel.support import Translations

HERE: Final = Path(__file__).parent
LANGUAGES: Final = ("id", "en", "sw")
LANGUAGE_NAMES: Final[Mapping[str, str]] = {
    "id": "Bahasa Indonesia",
    "en": "English",
    "sw": "Kiswahili",
}
# Amounts are integers in the units the gateways use; for these that is the whole unit
# (DESIGN §3), whatever CLDR says about their decimals.
WHOLE_UNIT_CURRENCIES: Final = frozenset({"IDR", "TZS", "UGX", "RWF"})
# Where a currency is at home: its amounts are written the local way when no country is given.
HOME_COUNTRY: Final = {"IDR": "ID", "TZS": "TZ", "KES": "KE", "UGX": "UG", "RWF": "RW"}

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined; it is translated where it is shown."""
    return message


def po_path(language: str) -> Path:
    return HERE / language / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=8)
def _translations(language: str) -> Translations | None:
    path = po_path(language)
    if not path.exists():
        return None
    with path.open("rb") as file:
        catalog = read_po(file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def translator(language: str) -> Translate:
    """`t("Hello")` in this language; an unknown language or message reads as English."""
    translations = _translations(language)
    if translations is None:
        return lambda message: message
    return translations.gettext


def supported(language: str, offered: tuple[str, ...] = LANGUAGES) -> str:
    """The offered language a chat client's code ("en-US", "id") means, or ""."""
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return code if code in offered else ""


def pick(names: Mapping[str, str], language: str) -> str:
    """A catalog name in this language, else English, Indonesian, or any."""
    for lang in (language, "en", "id"):
        if names.get(lang):
            return names[lang]
    return next(iter(names.values()), "")


@lru_cache(maxsize=32)
def _locale(language: str, country: str) -> Locale:
    for code in (f"{language}_{country}", language, "en"):
        try:
            return Locale.parse(code)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def format_money(amount: int, currency: str, language: str, country: str = "") -> str:
    """`Rp 125.000` (id), `Rp 125,000` (en, shop in Indonesia), `TSh 5,000` (sw, Tanzania)."""
    digits = 0 if currency in WHOLE_UNIT_CURRENCIES else get_currency_precision(currency)
    pattern = "¤ #,##0" + ("." + "0" * digits if digits else "")
    value = Decimal(amount).scaleb(-digits)
    locale = _locale(language, country or HOME_COUNTRY.get(currency, ""))
    text = format_currency(value, currency, format=pattern, locale=locale, currency_digits=False)
    return text.replace("\xa0", " ")


def format_when(moment: datetime, timezone: str, language: str, country: str = "") -> str:
    """`23 Nov, 10:00 WIB`: the shop's local time with its zone's short name."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    text = format_datetime(local, "d MMM, HH:mm", tzinfo=zone, locale=_locale(language, country))
    return f"{text} {local.tzname() or ''}".strip()
