"""The OpenAPI 3.1 document of the HTTP API, served (without a token) at /api/openapi.json:
its operations, parameters, error answers and links; the shapes are in bot/api/schema.py."""

from __future__ import annotations

from typing import Final

from bot.api.schema import (
    GATEWAY,
    IDEMPOTENCY_KEY,
    MAX_ID,
    MAX_PAGE,
    ORDER_CODE,
    SCHEMAS,
    Schema,
    ref,
)
from bot.merchant.events import OUTCOMES
from payments.orders import OrderStatus

ERRORS: Final = {
    "400": "The body is not JSON.",
    "401": "No valid bearer token.",
    "404": "No such order, payment or event.",
    "409": "The order's state does not allow this, or the Idempotency-Key was used for "
    "another request (or that request is still running), or the event to replay was never "
    "verified.",
    "413": "The body is over 1 MiB.",
    "422": "Invalid fields; `error.fields` names them.",
    "429": "Too many requests for this token; see Retry-After.",
    "503": "The database or the gateway is unavailable for a moment; try again.",
}


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _responses(ok: dict[str, tuple[str, str]], errors: str, links: Schema | None = None) -> Schema:
    answers: Schema = {
        code: {"description": text, "content": _json(ref(name))}
        for code, (text, name) in ok.items()
    }
    if links:
        for code in ok:
            answers[code]["links"] = links
    for code in ["401", "429", "503", *errors.split()]:
        answers[code] = {"$ref": f"#/components/responses/E{code}"}
    return answers


EXAMPLES: Final = {
    "NewOrder": {
        "items": [{"sku": "KOPI-SUSU", "quantity": 2}],
        "customer": {"name": "Siti Rahma", "phone": "+6281234567890", "telegram_chat_id": 1001},
        "delivery": {"method": "delivery", "address": "Jl. Merdeka 1, Bandung"},
    },
    "NewPayment": {"method": "sandbox:va:bca"},
    "Cancel": {"reason": "the customer asked"},
    "Ship": {"tracking": "JNE0123456789"},
    "NewRefund": {"amount": 25000, "reason": "one cup was missing"},
}


def _body(name: str, *, required: bool = True) -> Schema:
    content = {"application/json": {"schema": ref(name), "example": EXAMPLES[name]}}
    return {"required": required, "content": content}


def _links(pointer: str, param: str, *operations: str) -> Schema:
    """What a client does next with an answer, e.g. pay the order it just placed."""
    value = f"$response.body#{pointer}"
    return {op: {"operationId": op, "parameters": {param: value}} for op in operations}


ORDER_LINKS: Final = ("getOrder", "createPayment", "cancelOrder", "shipOrder", "refundOrder")
PAYMENT_LINKS: Final = ("getPayment", "checkPaymentStatus")


CODE_PARAM: Final = {
    "name": "code",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ORDER_CODE, "examples": ["A7K2Q9"]},
}
ID_PARAM: Final = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
KEY_PARAM: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key with the same body gets the same answer, also after a crash "
    "or from another instance; the same key with another body gets 409. Kept for 24 hours.",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY},
}
LIST_PARAMS: Final = [
    {
        "name": "status",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": [str(s) for s in OrderStatus]},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 20},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "next_cursor of the previous page",
        "schema": {"type": "string", "maxLength": 100},
    },
]
PAGE_PARAMS: Final = LIST_PARAMS[1:]  # limit, cursor
EVENT_PARAMS: Final = [
    {
        "name": "gateway",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": GATEWAY, "examples": ["sandbox"]},
    },
    {
        "name": "outcome",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(OUTCOMES)},
    },
    {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "only events at or after this time (with its offset)",
        "schema": {"type": "string", "format": "date-time"},
    },
    *PAGE_PARAMS,
]
PATHS: Final = {
    "/api/products": {
        "get": {
            "operationId": "listProducts",
            "summary": "The active catalog in the shop's currency",
            "responses": _responses({"200": ("The products", "ProductList")}, ""),
        }
    },
    "/api/orders": {
        "get": {
            "operationId": "listOrders",
            "summary": "Orders, newest first, a page at a time",
            "parameters": LIST_PARAMS,
            "responses": _responses(
                {"200": ("A page of orders", "OrderList")},
                "422",
                _links("/orders/0/code", "code", *ORDER_LINKS),
            ),
        },
        "post": {
            "operationId": "createOrder",
            "summary": "Place an order and reserve its stock",
            "parameters": [KEY_PARAM],
            "requestBody": _body("NewOrder"),
            "responses": _responses(
                {"201": ("The order", "OrderDetail")},
                "400 409 413 422",
                _links("/code", "code", *ORDER_LINKS),
            ),
        },
    },
    "/api/orders/{code}": {
        "get": {
            "operationId": "getOrder",
            "summary": "One order with its items, payments and payment events",
            "parameters": [CODE_PARAM],
            "responses": _responses({"200": ("The order", "OrderDetail")}, "404"),
        }
    },
    "/api/orders/{code}/payments": {
        "post": {
            "operationId": "createPayment",
            "summary": "Start paying an order with a method; answers with the instructions",
            "description": "Asking again with the same method returns the live attempt; "
            "another method cancels it and starts a new one. 202: the gateway's answer is "
            "not in yet (instructions null): ask again, with the same Idempotency-Key if any.",
            "parameters": [CODE_PARAM, KEY_PARAM],
            "requestBody": _body("NewPayment"),
            "responses": _responses(
                {
                    "201": ("The payment and its instructions", "Payment"),
                    "202": ("The payment, instructions not in yet", "Payment"),
                },
                "400 404 409 413 422",
                _links("/id", "id", *PAYMENT_LINKS),
            ),
        }
    },
    "/api/orders/{code}/cancel": {
        "post": {
            "operationId": "cancelOrder",
            "summary": "Cancel an unpaid or paid order; stock goes back, the customer is told",
            "parameters": [CODE_PARAM],
            "requestBody": _body("Cancel", required=False),
            "responses": _responses({"200": ("The order", "OrderDetail")}, "400 404 409 413 422"),
        }
    },
    "/api/orders/{code}/ship": {
        "post": {
            "operationId": "shipOrder",
            "summary": "Mark a paid order shipped; the customer is told",
            "parameters": [CODE_PARAM],
            "requestBody": _body("Ship", required=False),
            "responses": _responses({"200": ("The order", "OrderDetail")}, "400 404 409 413 422"),
        }
    },
    "/api/orders/{code}/refund": {
        "post": {
            "operationId": "refundOrder",
            "summary": "Give back a paid order's money, whole or in part; the customer is told",
            "description": "Asks the gateway where it has a refund API; elsewhere the refund "
            "is recorded as done by hand (by_hand), for the merchant to pay back. status "
            "requested: the gateway has not answered yet and is asked again. A refund never "
            "exceeds what is left of the paid amount; send an Idempotency-Key to retry safely.",
            "parameters": [CODE_PARAM, KEY_PARAM],
            "requestBody": _body("NewRefund", required=False),
            "responses": _responses({"202": ("The refund", "Refund")}, "400 404 409 413 422"),
        }
    },
    "/api/payments/{id}": {
        "get": {
            "operationId": "getPayment",
            "summary": "One payment",
            "parameters": [ID_PARAM],
            "responses": _responses({"200": ("The payment", "Payment")}, "404"),
        }
    },
    "/api/payments/{id}/check-status": {
        "post": {
            "operationId": "checkPaymentStatus",
            "summary": "Ask the gateway about a payment now (at most every few seconds)",
            "description": "A payment found paid confirms the order and tells the customer, "
            "as a callback would. Asked again too soon, the stored status is returned with "
            "asked = false and retry_in.",
            "parameters": [ID_PARAM],
            "responses": _responses({"200": ("The payment now", "StatusCheck")}, "404"),
        }
    },
    "/api/events": {
        "get": {
            "operationId": "listEvents",
            "summary": "The callback log: callbacks and status answers, newest first",
            "description": "Every callback (verified or not) and every answer to a status "
            "query is kept with what it did (its outcome). Raw bodies are not shown.",
            "parameters": EVENT_PARAMS,
            "responses": _responses(
                {"200": ("A page of events", "EventList")},
                "422",
                _links("/events/0/id", "id", "replayEvent"),
            ),
        }
    },
    "/api/events/{id}/replay": {
        "post": {
            "operationId": "replayEvent",
            "summary": "Run a stored verified event through the apply path again",
            "description": "Idempotent: what the event did once is not done twice, and the "
            "customer is told at most once. An unmatched event, or one flagged for review, "
            "asks its payment's gateway now instead. An unverified event is never applied "
            "(409).",
            "parameters": [{**ID_PARAM, "description": "the event's id"}],
            "responses": _responses({"200": ("What the replay did", "Replay")}, "404 409"),
        }
    },
}


def _error_response(code: str, text: str) -> Schema:
    response: Schema = {"description": text, "content": _json(ref("Error"))}
    if code == "429":
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def openapi_document(shop_name: str) -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{shop_name}: checkout-bot API",
            "version": "1",
            "description": "Orders and payments for merchants and integrations. Amounts are "
            "integers in the currency's minor units. Errors read "
            '{"error": {"code", "message", "fields"?}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "responses": {f"E{c}": _error_response(c, t) for c, t in ERRORS.items()},
        },
    }
