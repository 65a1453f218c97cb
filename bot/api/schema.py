"""The shapes of the HTTP API's requests and answers, as JSON Schema (OpenAPI 3.1).

The request-body schemas here are also what bot/api/input.py checks bodies against, so the
document (bot/api/document.py) and the implementation cannot disagree about what a valid
request is. The test suite runs schemathesis against the running app to hold the answers to
these shapes as well.
"""

from __future__ import annotations

from typing import Any, Final

from bot.config import LANGUAGES
from payments.base import PaymentStatus, RefundStatus
from payments.orders import MAX_QUANTITY, OrderStatus

Schema = dict[str, Any]

MAX_PAGE: Final = 100
MAX_LINES: Final = 50
ORDER_CODE: Final = "^[0-9A-Za-z]{6}$"
METHOD: Final = "^[a-z][a-z0-9_]*:(va|qris|link|ussd)(:[a-z][a-z0-9_]*)?$"
GATEWAY: Final = "^[a-z][a-z0-9_]{0,31}$"
IDEMPOTENCY_KEY: Final = "^[!-~]{1,255}$"  # printable ASCII, no spaces
MAX_ID: Final = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
MAX_CHAT_ID: Final = 2**53 - 1


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(max_length: int, *, nullable: bool = False, **extra: Any) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_length, **extra}


def _obj(properties: Schema, required: list[str] | None = None, *, closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


NULLABLE_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
TIME: Final = {"type": "string", "format": "date-time"}
NAMES: Final = {"type": "object", "additionalProperties": {"type": "string"}}
MONEY: Final = {"type": "integer", "description": "in the currency's minor units"}

# ---- request bodies: bot/api/input.py validates against these ------------------------------

ITEM_INPUT: Final = _obj(
    {
        "sku": _text(64, minLength=1, examples=["KOPI-SUSU"]),
        "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY, "examples": [2]},
    }
)
CUSTOMER_INPUT: Final = _obj(
    {
        "name": _text(200, minLength=1, examples=["Siti Rahma"]),
        "phone": _text(40, minLength=1, examples=["+6281234567890"]),
        "email": _text(254, nullable=True, pattern="^[^@ ]+@[^@ ]+$"),
        "telegram_chat_id": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CHAT_ID},
        "whatsapp_id": _text(20, nullable=True, pattern="^[0-9]{6,20}$"),
        "language": {"type": "string", "enum": list(LANGUAGES)},
    },
    ["name", "phone"],
)
DELIVERY_INPUT: Final = _obj(
    {
        "method": {"type": "string", "enum": ["pickup", "delivery"]},
        "address": _text(500, nullable=True),
        "note": _text(500, nullable=True),
    },
    ["method"],
)
NEW_ORDER: Final = _obj(
    {
        "items": {"type": "array", "items": ITEM_INPUT, "minItems": 1, "maxItems": MAX_LINES},
        "customer": CUSTOMER_INPUT,
        "delivery": DELIVERY_INPUT,
    },
    ["items", "customer"],
)
NEW_PAYMENT: Final = _obj({"method": _text(64, pattern=METHOD, examples=["sandbox:va:bca"])})
CANCEL: Final = _obj({"reason": _text(200)}, [])
SHIP: Final = _obj({"tracking": _text(100, nullable=True, minLength=1)}, [])
NEW_REFUND: Final = _obj(
    {
        "amount": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10**15,
            "description": "in minor units; left out: all that is left of the paid amount",
        },
        "reason": _text(200),
    },
    [],
)

# ---- responses -----------------------------------------------------------------------------

PROBLEM: Final = _obj({"field": {"type": "string"}, "message": {"type": "string"}})
ERROR: Final = _obj(
    {
        "error": _obj(
            {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "array", "items": ref("Problem")},
            },
            ["code", "message"],
        )
    }
)
PRODUCT: Final = _obj(
    {
        "sku": {"type": "string"},
        "category": {"type": "string"},
        "names": NAMES,
        "descriptions": NAMES,
        "price": MONEY,
        "currency": {"type": "string"},
        "stock": {"type": ["integer", "null"], "description": "null: not counted"},
    }
)
CUSTOMER: Final = _obj(
    {
        "name": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "telegram_chat_id": {"type": ["integer", "null"]},
        "whatsapp_id": {"type": ["string", "null"]},
        "language": {"type": "string"},
    }
)
ITEM: Final = _obj(
    {
        "sku": {"type": "string"},
        "names": NAMES,
        "unit_price": MONEY,
        "quantity": {"type": "integer"},
        "total": MONEY,
    }
)
DELIVERY: Final = _obj(
    {
        "method": {"type": "string"},
        "address": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]},
    }
)
PAYMENT: Final = _obj(
    {
        "id": {"type": "integer"},
        "order_code": {"type": "string"},
        "method": {"type": "string"},
        "gateway": {"type": "string"},
        "reference": {"type": "string"},
        "status": {"type": "string", "enum": [str(s) for s in PaymentStatus]},
        "amount": MONEY,
        "currency": {"type": "string"},
        "instructions": {
            "type": ["object", "null"],
            "description": "null until the gateway has answered: ask again with the same request",
        },
        "expires_at": NULLABLE_TIME,
        "paid_at": NULLABLE_TIME,
        "needs_review": {"type": "boolean"},
        "review_reason": {"type": ["string", "null"]},
        "created_at": TIME,
    }
)
_ORDER_FIELDS: Final = {
    "code": {"type": "string"},
    "status": {"type": "string", "enum": [str(s) for s in OrderStatus]},
    "items": {"type": "array", "items": ref("Item")},
    "items_total": MONEY,
    "shipping": MONEY,
    "total": MONEY,
    "currency": {"type": "string"},
    "customer": ref("Customer"),
    "delivery": ref("Delivery"),
    "payments": {"type": "array", "items": ref("Payment")},
    "created_at": TIME,
    "expires_at": TIME,
    "paid_at": NULLABLE_TIME,
    "shipped_at": NULLABLE_TIME,
    "tracking": {"type": ["string", "null"]},
}
EVENT: Final = _obj(
    {
        "id": {"type": "integer"},
        "payment_id": {"type": ["integer", "null"]},
        "reference": {"type": ["string", "null"]},
        "source": {"type": "string", "description": "callback, poll, check, create, ..."},
        "status": {"type": ["string", "null"]},
        "outcome": {"type": "string"},
        "verified": {"type": "boolean"},
        "created_at": TIME,
    }
)
REFUND: Final = _obj(
    {
        "id": {"type": "integer"},
        "order_code": {"type": "string"},
        "payment_id": {"type": "integer"},
        "reference": {"type": "string", "description": "ours, sent to the gateway"},
        "amount": MONEY,
        "currency": {"type": "string"},
        "status": {"type": "string", "enum": [str(s) for s in RefundStatus]},
        "by_hand": {"type": "boolean", "description": "the gateway has no refund API here"},
        "reason": {"type": ["string", "null"]},
        "created_at": TIME,
        "settled_at": NULLABLE_TIME,
    }
)
ORDER: Final = _obj(_ORDER_FIELDS)
ORDER_DETAIL: Final = _obj(
    {
        **_ORDER_FIELDS,
        "events": {"type": "array", "items": ref("Event")},
        "refunds": {"type": "array", "items": ref("Refund")},
    }
)
ORDER_LIST: Final = _obj(
    {
        "orders": {"type": "array", "items": ref("Order")},
        "next_cursor": {"type": ["string", "null"], "description": "null on the last page"},
    }
)
STATUS_CHECK: Final = _obj(
    {
        "payment": ref("Payment"),
        "asked": {"type": "boolean", "description": "whether the gateway was asked just now"},
        "changed": {"type": "boolean"},
        "error": {"type": ["string", "null"], "description": "why the gateway was not asked"},
        "retry_in": {"type": ["number", "null"], "description": "seconds until asking helps"},
    }
)
# The callback log (bot/merchant/events.py): what the gateways told us, and its replay.
LOG_EVENT: Final = _obj(
    {
        "id": {"type": "integer"},
        "gateway": {"type": "string"},
        "source": {"type": "string", "description": "callback, poll, check, create, replay"},
        "reference": {"type": ["string", "null"], "description": "our payment reference"},
        "payment_id": {"type": ["integer", "null"], "description": "null: unmatched"},
        "status": {"type": ["string", "null"], "description": "canonical, when read"},
        "raw_status": {"type": ["string", "null"], "description": "the gateway's own word"},
        "verified": {"type": "boolean"},
        "outcome": {
            "type": "string",
            "description": "applied, duplicate, stale (older news), review (flagged for a "
            "person), unmatched (verified, no payment of ours), rejected (not authentic), "
            "unreadable, unconfirmed (the confirming status query was refused)",
        },
        "created_at": TIME,
    }
)
EVENT_LIST: Final = _obj(
    {
        "events": {"type": "array", "items": ref("LogEvent")},
        "next_cursor": {"type": ["string", "null"], "description": "null on the last page"},
    }
)
REPLAY: Final = _obj(
    {
        "event": ref("LogEvent"),
        "outcome": {
            "type": "string",
            "enum": ["applied", "duplicate", "stale", "review", "unmatched", "deferred"],
            "description": "what the replay did; deferred: the gateway could not be asked "
            "just now (see error), try again later",
        },
        "payment_id": {"type": ["integer", "null"]},
        "asked": {"type": "boolean", "description": "whether the gateway was asked just now"},
        "error": {"type": ["string", "null"]},
    }
)
SCHEMAS: Final = {
    "Problem": PROBLEM, "Error": ERROR, "Product": PRODUCT, "Customer": CUSTOMER,
    "Item": ITEM, "Delivery": DELIVERY, "Payment": PAYMENT, "Event": EVENT, "Order": ORDER,
    "OrderDetail": ORDER_DETAIL, "OrderList": ORDER_LIST, "StatusCheck": STATUS_CHECK,
    "NewOrder": NEW_ORDER, "NewPayment": NEW_PAYMENT, "Cancel": CANCEL, "Ship": SHIP,
    "Refund": REFUND, "NewRefund": NEW_REFUND,
    "ProductList": _obj({"products": {"type": "array", "items": ref("Product")}}),
    "LogEvent": LOG_EVENT, "EventList": EVENT_LIST, "Replay": REPLAY,
}  # fmt: skip
