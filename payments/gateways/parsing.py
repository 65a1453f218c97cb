"""Reading what a provider sent: bodies, text fields and Indonesian wall-clock times.

A callback route is open to anyone who finds its URL, and the standard library fails on hostile
input in ways `except ValueError` does not catch: deep nesting raises RecursionError, a lone
surrogate (JSON's "\\udfff") makes `str.encode` fail, a long digit string makes `int` refuse.
Adapters read through these helpers so that every such input ends as one ValueError (or None),
which each adapter turns into CallbackUnreadable or GatewayUnavailable. One copy here, so a fix
reaches every gateway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

ParseFloat = Callable[[str], Any]

# Western Indonesia Time: the clock Indonesian providers write their zone-less times in.
# Indonesia has no daylight saving time, so a fixed offset is exact.
WIB: Final = timezone(timedelta(hours=7), "WIB")
_WALL_CLOCK: Final = "%Y-%m-%d %H:%M:%S"


def json_object(body: bytes, *, parse_float: ParseFloat | None = None) -> dict[str, Any]:
    """The body as a JSON object; ValueError for anything else, whatever it holds."""
    try:
        data = json.loads(body, parse_float=parse_float)
    except RecursionError:  # "[[[[...": the decoder recurses once per level
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def json_object_or_none(body: bytes) -> dict[str, Any] | None:
    """`json_object`, or None where it is not one (an answer to our call that we cannot read)."""
    try:
        return json_object(body)
    except ValueError:  # UnicodeDecodeError and too deep included
        return None


def utf8(text: str) -> bytes:
    """Bytes to hash or compare, for any str: a lone surrogate passes through, never raises.

    `surrogatepass` rather than `replace`: two different strings must never give the same
    bytes, or a signature made for one would verify the other.
    """
    return text.encode("utf-8", "surrogatepass")


def text_field(value: object, *, blank_is_none: bool = False) -> str | None:
    """An id or a name that providers send as a string or a number; None for anything else
    (objects, lists, booleans, null), and for "" where the provider means nothing by it."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    if blank_is_none and value == "":
        return None
    return str(value)


def wib_time(value: object) -> datetime | None:
    """A zone-less `YYYY-MM-DD HH:MM:SS` read as WIB; None when it is not one."""
    try:
        return datetime.strptime(str(value), _WALL_CLOCK).replace(tzinfo=WIB)
    except ValueError:
        return None
