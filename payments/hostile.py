"""Reading bytes a stranger sent: a callback route is open to anyone who finds its URL.

The standard library fails on hostile input in ways `except ValueError` does not catch: deep
nesting raises RecursionError, a lone surrogate (JSON's "\\udfff") makes `str.encode` fail, a
long digit string makes `int` refuse. Adapters read through these two helpers so that every
such input ends as one ValueError, which each adapter turns into CallbackUnreadable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

ParseFloat = Callable[[str], Any]


def json_object(body: bytes, *, parse_float: ParseFloat | None = None) -> dict[str, Any]:
    """The body as a JSON object; ValueError for anything else, whatever it holds."""
    try:
        data = json.loads(body, parse_float=parse_float)
    except RecursionError:  # "[[[[...": the decoder recurses once per level
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def utf8(text: str) -> bytes:
    """Bytes to hash or compare, for any str: a lone surrogate passes through, never raises.

    `surrogatepass` rather than `replace`: two different strings must never give the same
    bytes, or a signature made for one would verify the other.
    """
    return text.encode("utf-8", "surrogatepass")
