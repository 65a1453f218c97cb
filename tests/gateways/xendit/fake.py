"""A fake Xendit (Invoice API and Payment Requests API) that enforces what our adapter needs.

Shapes follow https://docs.xendit.co and the recordings beside this file: Basic auth with the
secret key (401 INVALID_API_KEY otherwise), 400 API_VALIDATION_ERROR for malformed bodies,
404 for unknown ids, the `idempotency-key` header honoured on payment requests, and callbacks
posted with the static `x-callback-token`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast

import aiohttp
from aiohttp import web

FailMode = Literal["timeout", "500", "429"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RETRY_AFTER: Final = 30
BANKS: Final = frozenset({"BCA", "BNI", "BRI", "MANDIRI", "PERMATA", "BSI"})
UNAUTHORIZED: Final = {
    "error_code": "INVALID_API_KEY",
    "message": "API key is not authorized for this API service",
}
INTERNAL: Final = {"error_code": "SERVER_ERROR", "message": "An unexpected error occured"}
TOO_MANY: Final = {"error_code": "RATE_LIMIT_EXCEEDED", "message": "Too many requests"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _error(code: str, message: str, status: int) -> web.Response:
    return web.json_response({"error_code": code, "message": message}, status=status)


class FakeXendit:
    """Just enough of Xendit for our adapter, with memory that tests read and steer."""

    def __init__(self, secret_key: str, callback_token: str, *, slow_seconds: float = 1.0) -> None:
        self.secret_key, self.callback_token = secret_key, callback_token
        self.slow_seconds = slow_seconds
        self.invoices: dict[str, dict[str, Any]] = {}  # invoice id -> invoice
        self.requests: dict[str, dict[str, Any]] = {}  # payment request id -> request
        self.refs: dict[str, str] = {}  # our reference -> Xendit's id
        self.keys: dict[str, str] = {}  # idempotency-key -> payment request id
        self.confused: dict[str, str] = {}  # id -> the id whose object its GET shows
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []
        self._created: Counter[str] = Counter()
        self._failures: deque[FailMode] = deque()
        self._numbers = 0
        self.app = web.Application(middlewares=[self._middleware])
        self.app.add_routes(
            [
                web.post("/v2/invoices", self._create_invoice),
                web.get("/v2/invoices", self._list_invoices),
                web.get("/v2/invoices/{id}", self._get_invoice),
                web.post("/invoices/{id}/expire!", self._expire_invoice),
                web.post("/payment_requests", self._create_request),
                web.get("/payment_requests", self._list_requests),
                web.get("/payment_requests/{id}", self._get_request),
                web.post("/v2/payment_methods/{id}/expire", self._expire_method),
            ]
        )

    # -- steering ------------------------------------------------------------------------------

    def object(self, reference: str) -> dict[str, Any]:
        """The invoice or payment request made for our reference."""
        xid = self.refs[reference]
        return self.invoices.get(xid) or self.requests[xid]

    def pay(self, reference: str) -> None:
        item = self.object(reference)
        if item["id"] in self.invoices:
            item.update(status="PAID", paid_amount=item["amount"], paid_at=_iso(datetime.now(UTC)))
            item.update(payment_method="BANK_TRANSFER", payment_channel="BCA")
        else:
            item["status"] = "SUCCEEDED"

    def set_status(self, reference: str, status: str) -> None:
        self.object(reference)["status"] = status

    def set_amount(self, reference: str, amount: int) -> None:
        item = self.object(reference)
        item["paid_amount" if "paid_amount" in item else "amount"] = amount

    def confuse(self, reference: str, other: str) -> None:
        """GET by the id of reference's object answers with other's object."""
        self.confused[self.refs[reference]] = self.refs[other]

    def fail_next(self, mode: str, times: int = 1) -> None:
        """ "timeout" does the work and answers after slow_seconds; "500"/"429" do nothing."""
        assert mode in ("timeout", "500", "429"), mode
        self._failures.extend([cast(FailMode, mode)] * times)

    def created(self, reference: str) -> int:
        return self._created[reference]

    # -- callbacks -----------------------------------------------------------------------------

    def callback(
        self, reference: str, *, status: str | None = None, amount: int | None = None
    ) -> dict[str, Any]:
        """The callback Xendit posts for our reference's object; by default it claims paid."""
        item = self.object(reference)
        if item["id"] in self.invoices:
            body = {**item, "status": status or "PAID"}
            body.setdefault("paid_amount", item["amount"])
            if amount is not None:
                body["paid_amount"] = amount
            return body
        data = {
            "id": f"py-{uuid.uuid4()}",
            "payment_request_id": item["id"],
            "reference_id": item["reference_id"],
            "status": status or "SUCCEEDED",
            "amount": item["amount"] if amount is None else amount,
            "currency": item["currency"],
            "country": "ID",
            "payment_method": item["payment_method"],
            "created": item["created"],
            "updated": _iso(datetime.now(UTC)),
        }
        event = "payment.failed" if data["status"] == "FAILED" else "payment.succeeded"
        return {"event": event, "business_id": "5f00000000000000000000aa", "data": data,
                "created": data["updated"]}  # fmt: skip

    async def post(
        self, http: aiohttp.ClientSession, url: str, body: Any, *, forged: bool = False
    ) -> int:
        token = "forged-" + self.callback_token if forged else self.callback_token
        headers = {"Content-Type": "application/json", "x-callback-token": token}
        async with http.post(url, data=json.dumps(body).encode(), headers=headers) as resp:
            return resp.status

    async def send(
        self,
        http: aiohttp.ClientSession,
        url: str,
        reference: str,
        forged: bool = False,
        **kw: Any,
    ) -> int:
        """POST the callback for reference to our callback URL; the HTTP status."""
        return await self.post(http, url, self.callback(reference, **kw), forged=forged)

    # -- HTTP ----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        mode = self._failures.popleft() if self._failures else None
        if mode == "500":
            return web.json_response(INTERNAL, status=500)
        if mode == "429":
            headers = {"Retry-After": str(RETRY_AFTER)}
            return web.json_response(TOO_MANY, status=429, headers=headers)
        expected = "Basic " + base64.b64encode(f"{self.secret_key}:".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response(UNAUTHORIZED, status=401)
        response = await handler(request)
        if mode == "timeout":
            await asyncio.sleep(self.slow_seconds)  # the work is done; the answer comes late
        return response

    async def _read(self, request: web.Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return None
        self.bodies.append(body)
        return body

    async def _create_invoice(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        problem = _invoice_problem(body)
        if problem:
            return _error("API_VALIDATION_ERROR", problem, 400)
        now, xid = datetime.now(UTC), uuid.uuid4().hex[:24]
        invoice = {
            "id": xid,
            "external_id": body["external_id"],
            "user_id": "5f00000000000000000000aa",
            "status": "PENDING",
            "merchant_name": "Toko Contoh",
            "amount": body["amount"],
            "description": body.get("description", ""),
            "expiry_date": _iso(now + timedelta(seconds=body.get("invoice_duration", 86400))),
            "invoice_url": f"{request.url.origin()}/web/{xid}",
            "currency": body.get("currency", "IDR"),
            "created": _iso(now),
            "updated": _iso(now),
        }
        self.invoices[xid] = invoice
        self.refs[body["external_id"]] = xid
        self._created[body["external_id"]] += 1
        return web.json_response(invoice)

    async def _list_invoices(self, request: web.Request) -> web.Response:
        wanted = request.query.get("external_id")
        found = [i for i in self.invoices.values() if i["external_id"] == wanted]
        return web.json_response(found)

    async def _get_invoice(self, request: web.Request) -> web.Response:
        xid = request.match_info["id"]
        invoice = self.invoices.get(self.confused.get(xid, xid))
        if invoice is None:
            return _error("INVOICE_NOT_FOUND_ERROR", "Could not find invoice", 404)
        return web.json_response(invoice)

    async def _expire_invoice(self, request: web.Request) -> web.Response:
        invoice = self.invoices.get(request.match_info["id"])
        if invoice is None:
            return _error("INVOICE_NOT_FOUND_ERROR", "Could not find invoice", 404)
        if invoice["status"] != "PENDING":
            return _error("INVOICE_NOT_PENDING", "Invoice is not pending", 400)
        invoice["status"] = "EXPIRED"
        return web.json_response(invoice)

    async def _create_request(self, request: web.Request) -> web.Response:
        key = request.headers.get("idempotency-key")
        if key in self.keys:  # the same request again: the same answer
            return web.json_response(self.requests[self.keys[key]], status=201)
        body = await self._read(request)
        problem = _request_problem(body)
        if problem:
            return _error("API_VALIDATION_ERROR", problem, 400)
        self._numbers += 1
        now, xid = datetime.now(UTC), f"pr-{uuid.uuid4()}"
        item = {
            "id": xid,
            "reference_id": body["reference_id"],
            "business_id": "5f00000000000000000000aa",
            "currency": body["currency"],
            "amount": body["amount"],
            "country": body["country"],
            "description": body.get("description"),
            "status": "PENDING",
            "payment_method": _method(body["payment_method"], self._numbers),
            "failure_code": None,
            "created": _iso(now),
            "updated": _iso(now),
        }
        self.requests[xid] = item
        self.refs[body["reference_id"]] = xid
        self._created[body["reference_id"]] += 1
        if key:
            self.keys[key] = xid
        return web.json_response(item, status=201)

    async def _list_requests(self, request: web.Request) -> web.Response:
        wanted = request.query.get("reference_id")
        found = [r for r in self.requests.values() if r["reference_id"] == wanted]
        return web.json_response({"data": found, "has_more": False})

    async def _get_request(self, request: web.Request) -> web.Response:
        xid = request.match_info["id"]
        item = self.requests.get(self.confused.get(xid, xid))
        if item is None:
            return _error("DATA_NOT_FOUND", "Payment request not found", 404)
        return web.json_response(item)

    async def _expire_method(self, request: web.Request) -> web.Response:
        """Expiring a one-time VA/QR expires its payment request (our reading, UNCONFIRMED)."""
        pm_id = request.match_info["id"]
        for item in self.requests.values():
            if item["payment_method"]["id"] == pm_id:
                if item["status"] != "PENDING":
                    return _error("INVALID_PAYMENT_METHOD_STATUS", "Not active", 400)
                item["status"], item["payment_method"]["status"] = "EXPIRED", "EXPIRED"
                return web.json_response(item["payment_method"])
        return _error("DATA_NOT_FOUND", "Payment method not found", 404)


def _method(asked: dict[str, Any], n: int) -> dict[str, Any]:
    """The payment method as Xendit reports it: a VA number or a QR string filled in."""
    method = json.loads(json.dumps(asked))
    method.update(id=f"pm-{uuid.uuid4()}", status="ACTIVE")
    if method["type"] == "VIRTUAL_ACCOUNT":
        method["virtual_account"]["channel_properties"]["virtual_account_number"] = f"8808{n:08d}"
    else:
        props = method["qr_code"]["channel_properties"]
        props["qr_string"] = f"00020101021226660014ID.CO.QRIS.WWW0118{n:08d}6304ABCD"
    return method


def _positive_int(value: Any) -> bool:
    return type(value) is int and value > 0


def _invoice_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("external_id"), str) or not body["external_id"]:
        return '"external_id" is required'
    if not _positive_int(body.get("amount")):
        return '"amount" must be a positive number'
    duration = body.get("invoice_duration", 86400)
    if not _positive_int(duration) or duration > 31536000:
        return '"invoice_duration" must be between 1 and 31536000'
    return None


def _request_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("reference_id"), str) or not _positive_int(body.get("amount")):
        return '"reference_id" and a positive "amount" are required'
    if body.get("currency") != "IDR" or body.get("country") != "ID":
        return "currency IDR and country ID only on this account"
    method = body.get("payment_method")
    if not isinstance(method, dict) or method.get("reusability") != "ONE_TIME_USE":
        return '"payment_method" with "reusability" is required'
    if method.get("type") == "VIRTUAL_ACCOUNT":
        va = method.get("virtual_account") or {}
        props = va.get("channel_properties") or {}
        if va.get("channel_code") not in BANKS or not props.get("customer_name"):
            return "virtual_account needs a supported channel_code and a customer_name"
        return _expiry_problem(props)
    if method.get("type") == "QR_CODE":
        qr = method.get("qr_code") or {}
        if qr.get("channel_code") != "QRIS":
            return "qr_code.channel_code must be QRIS"
        return _expiry_problem(qr.get("channel_properties") or {})
    return f'"payment_method.type" {method.get("type")!r} is not supported'


def _expiry_problem(props: dict[str, Any]) -> str | None:
    try:
        datetime.fromisoformat(str(props.get("expires_at")).replace("Z", "+00:00"))
    except ValueError:
        return "channel_properties.expires_at must be an ISO 8601 time"
    return None
