"""Reading requests: JSON bodies checked against the OpenAPI document's own schemas, then the
rules no schema can say (a real phone number, an address for delivery).

Every problem is collected with its field path, so one 422 names all of them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from bot.api import schema as doc
from bot.api.errors import ApiError, Problem, invalid
from bot.channels import Channel
from bot.config import Shop
from bot.conversation.checkout import normalize_phone
from payments.base import MethodId
from payments.orders import CartLine, Delivery, OrderStatus

Schema = Mapping[str, Any]
DEFAULT_PAGE: Final = 20
NO_BODY: Final[Any] = object()  # an optional body left out reads as {}
TYPES: Final = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: _is_integer(v),  # 2.0 is an integer in JSON Schema, true is not
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


@cache
def _pattern(text: str) -> re.Pattern[str]:
    """ECMA-262 reads `$` as the end of the text; Python's also matches before a final \\n."""
    return re.compile(text[:-1] + r"\Z" if text.endswith("$") else text)


def check(schema: Schema, value: Any, path: str = "") -> list[Problem]:
    """The subset of JSON Schema that the request bodies use: type, enum, lengths, pattern,
    range, properties (required, closed), items. Every problem, each with its field path."""
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if kinds and not any(TYPES[k](value) for k in kinds):
        return [Problem(path or "body", f"expected {' or '.join(kinds)}")]
    if "enum" in schema and value not in schema["enum"]:
        return [Problem(path, f"expected one of {', '.join(map(str, schema['enum']))}")]
    if isinstance(value, str):
        return _check_text(schema, value, path)
    if _is_integer(value):
        return _check_range(schema, value, path)
    if isinstance(value, dict):
        return _check_object(schema, value, path)
    if isinstance(value, list):
        return _check_array(schema, value, path)
    return []


def _check_text(schema: Schema, value: str, path: str) -> list[Problem]:
    if "\x00" in value or not _encodable(value):
        return [Problem(path, "contains a NUL character or invalid Unicode")]
    if len(value) < schema.get("minLength", 0):
        return [Problem(path, "must not be empty")]
    if len(value) > schema.get("maxLength", len(value)):
        return [Problem(path, f"at most {schema['maxLength']} characters")]
    if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        return [Problem(path, f"must match {schema['pattern']}")]
    return []


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, as JSON's "\ud800" allows
        return False
    return True


def _check_range(schema: Schema, value: float, path: str) -> list[Problem]:
    low, high = schema.get("minimum", value), schema.get("maximum", value)
    if not low <= value <= high:
        return [Problem(path, f"must be from {low} to {high}")]
    return []


def _check_object(schema: Schema, value: dict[str, Any], path: str) -> list[Problem]:
    prefix = f"{path}." if path else ""
    properties = schema.get("properties", {})
    found = [Problem(prefix + k, "required") for k in schema.get("required", ()) if k not in value]
    for key, item in value.items():
        if key in properties:
            found += check(properties[key], item, prefix + key)
        elif schema.get("additionalProperties") is False:
            found.append(Problem(prefix + key, "unknown field"))
    return found


def _check_array(schema: Schema, value: list[Any], path: str) -> list[Problem]:
    low, high = schema.get("minItems", 0), schema.get("maxItems", len(value))
    if not low <= len(value) <= high:
        return [Problem(path, f"from {low} to {high} items")]
    found: list[Problem] = []
    for i, item in enumerate(value):
        found += check(schema.get("items", {}), item, f"{path}[{i}]")
    return found


def checked(schema: Schema, data: Any) -> dict[str, Any]:
    """The body as a dict, or a 422 naming every field that does not fit the schema."""
    data = {} if data is NO_BODY else data
    problems = check(schema, data)
    if problems:
        raise invalid(problems)
    assert isinstance(data, dict)
    return data


# ---- bodies ----------------------------------------------------------------------------------


def parse_json(body: bytes) -> Any:
    """NO_BODY for an empty body (JSON `null` is a body); 400 for anything that is not JSON."""
    if not body.strip():
        return NO_BODY
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "bad_request", "The body is not valid JSON.") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class NewCustomer:
    name: str
    phone: str  # E.164
    email: str | None
    language: str | None
    channel: str  # telegram | whatsapp | api
    address: str  # the chat id, the WhatsApp id, or (api) the phone number


@dataclass(frozen=True, slots=True)
class NewOrder:
    items: tuple[CartLine, ...]
    customer: NewCustomer
    delivery: Delivery


def new_order(data: Any, shop: Shop) -> NewOrder:
    body = checked(doc.NEW_ORDER, data)
    problems: list[Problem] = []
    customer = _customer(body["customer"], shop, problems)
    delivery = _delivery(body.get("delivery") or {"method": "pickup"}, shop, problems)
    if problems:
        raise invalid(problems)
    items = tuple(CartLine(i["sku"], int(i["quantity"])) for i in body["items"])
    return NewOrder(items, customer, delivery)


def _customer(data: dict[str, Any], shop: Shop, problems: list[Problem]) -> NewCustomer:
    name = data["name"].strip()
    if not name:
        problems.append(Problem("customer.name", "must not be blank"))
    phone = normalize_phone(data["phone"], shop.country)
    if not phone:
        problems.append(Problem("customer.phone", "not a valid phone number"))
    language = data.get("language")
    if language is not None and language not in shop.languages:
        problems.append(Problem("customer.language", f"one of {', '.join(shop.languages)}"))
    chat_id, wa_id = data.get("telegram_chat_id"), data.get("whatsapp_id")
    if chat_id is not None and wa_id is not None:
        problems.append(Problem("customer.whatsapp_id", "give telegram_chat_id or this, not both"))
    channel, address = "api", phone
    if chat_id is not None:
        channel, address = Channel.TELEGRAM, str(int(chat_id))
    elif wa_id is not None:
        channel, address = Channel.WHATSAPP, wa_id
    email = (data.get("email") or "").strip() or None
    return NewCustomer(name, phone, email, language, channel, address)


def _delivery(data: dict[str, Any], shop: Shop, problems: list[Problem]) -> Delivery:
    method = data["method"]
    address = (data.get("address") or "").strip() or None
    if method == "pickup" and not shop.pickup:
        problems.append(Problem("delivery.method", "this shop does not offer pickup"))
    if method == "delivery" and address is None:
        problems.append(Problem("delivery.address", "required for delivery"))
    return Delivery(method, address, (data.get("note") or "").strip() or None)


def new_payment(data: Any) -> MethodId:
    body = checked(doc.NEW_PAYMENT, data)
    try:
        return MethodId.parse(body["method"])
    except ValueError as exc:
        raise invalid([Problem("method", str(exc))]) from None


def cancel_reason(data: Any) -> str:
    return str(checked(doc.CANCEL, data).get("reason") or "").strip()


def new_refund(data: Any) -> tuple[int | None, str]:
    """The amount to refund (None: all that is left) and the merchant's reason."""
    fields = checked(doc.NEW_REFUND, data)
    return fields.get("amount"), str(fields.get("reason") or "").strip()


def tracking(data: Any) -> str | None:
    value = checked(doc.SHIP, data).get("tracking")
    return value.strip() or None if isinstance(value, str) else None


def idempotency_key(value: str) -> str:
    if not _pattern(doc.IDEMPOTENCY_KEY).search(value):
        raise invalid([Problem("Idempotency-Key", "1 to 255 printable ASCII characters")])
    return value


# ---- the order list's query --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    status: str | None = None
    limit: int = DEFAULT_PAGE
    before: int | None = None  # the last order id of the previous page


def page(query: Mapping[str, str]) -> Page:
    problems: list[Problem] = []
    status = query.get("status")
    if status is not None and status not in set(OrderStatus):
        problems.append(Problem("status", f"one of {', '.join(OrderStatus)}"))
    limit = _limit(query.get("limit"), problems)
    before = None
    if (cursor := query.get("cursor")) is not None:
        before = decode_cursor(cursor)
        if before is None:
            problems.append(Problem("cursor", "not a cursor from this API"))
    if problems:
        raise invalid(problems)
    return Page(status, limit, before)


def _limit(text: str | None, problems: list[Problem]) -> int:
    if text is None:
        return DEFAULT_PAGE
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= doc.MAX_PAGE:
        problems.append(Problem("limit", f"a whole number from 1 to {doc.MAX_PAGE}"))
        return DEFAULT_PAGE
    return int(text)


def encode_cursor(row_id: int, kind: str = "o") -> str:
    """`kind`: o for orders, e for events, so that one list's cursor is refused by another."""
    return base64.urlsafe_b64encode(f"{kind}{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str = "o") -> int | None:
    if len(cursor) > 100:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    match = re.fullmatch(re.escape(kind) + r"([1-9][0-9]{0,9})", text)
    return int(match.group(1)) if match else None


# ---- the callback log's query (GET /api/events) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventPage:
    gateway: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    limit: int = DEFAULT_PAGE
    before: int | None = None  # the last event id of the previous page


def event_page(query: Mapping[str, str], outcomes: Collection[str]) -> EventPage:
    problems: list[Problem] = []
    gateway = query.get("gateway")
    if gateway is not None and not _pattern(doc.GATEWAY).search(gateway):
        problems.append(Problem("gateway", "a gateway's name, e.g. sandbox"))
    outcome = query.get("outcome")
    if outcome is not None and outcome not in outcomes:
        problems.append(Problem("outcome", f"one of {', '.join(outcomes)}"))
    since = _since(query.get("since"), problems)
    limit = _limit(query.get("limit"), problems)
    before = None
    if (cursor := query.get("cursor")) is not None:
        before = decode_cursor(cursor, "e")
        if before is None:
            problems.append(Problem("cursor", "not a cursor from this API"))
    if problems:
        raise invalid(problems)
    return EventPage(gateway, outcome, since, limit, before)


def _since(text: str | None, problems: list[Problem]) -> datetime | None:
    """An RFC 3339 time with its offset; without one it would mean a different moment on
    every server."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.upper()) if len(text) <= 40 else None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    problems.append(Problem("since", "a date-time with its offset, e.g. 2026-11-22T00:00:00Z"))
    return None
