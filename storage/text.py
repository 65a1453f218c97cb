"""Making outside text storable, in columns and in JSON documents.

A lone surrogate (JSON's "\\udfff" decodes to one) cannot be encoded as UTF-8, so aiosqlite and
asyncpg refuse the statement; PostgreSQL also refuses NUL in text and both in jsonb. Such text
is replaced here, before any statement, with U+FFFD: what a stranger sent stays readable in
the audit trail and can no longer fail a transaction that other writes share.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
# What json.dumps writes for NUL or a UTF-16 half; a pair is two halves and passes the check
# in storable_json below, which then finds nothing to replace and writes the same text.
_SUSPECT_ESCAPE: Final = re.compile(r"\\u(0000|d[89a-f])", re.I)


def storable(text: str, limit: int | None = None) -> str:
    """`text` without NUL or lone surrogates, cut to `limit` characters."""
    if not text.isascii() or "\x00" in text:
        text = _UNSTORABLE.sub("\ufffd", text)
    return text if limit is None or len(text) <= limit else text[:limit]


def storable_json(value: Any) -> str:
    """json.dumps for the engines (create_engine(json_serializer=...)), made storable."""
    text = json.dumps(value)
    if _SUSPECT_ESCAPE.search(text) is None:
        return text
    return json.dumps(_clean(value))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
