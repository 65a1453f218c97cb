"""A fake Midtrans (Core API and Snap on one app) that enforces the contract our adapter needs.

Shapes follow https://docs.midtrans.com/reference. Midtrans often answers errors with HTTP 200
and the error in the body's status_code; that is the default here. errors_in_http=True puts the
code in the HTTP status line as well (Snap always does), so tests can cover both.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal

import aiohttp
from aiohttp import web

FailMode = Literal["timeout", "500", "429"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WIB: Final = timezone(timedelta(hours=7))
MERCHANT_ID: Final = "G000000001"
BILLER_CODE: Final = "70012"
RETRY_AFTER: Final = 30
VA_BANKS: Final = frozenset({"bca", "bni", "bri", "cimb", "permata"})
EXPIRY_UNITS: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
# status_code in status answers; notifications carry 202 for expire (Midtrans' own sample).
STATUS_CODES: Final = {"pending": "201", "deny": "202", "failure": "202", "expire": "407"}
NOTIFICATION_CODES: Final = {**STATUS_CODES, "expire": "202"}
CORE_UNAUTHORIZED: Final = {
    "status_code": "401",
    "status_message": "Unknown Merchant server_key/id",
}
SNAP_UNAUTHORIZED: Final = {
    "error_messages": [
        "Access denied due to unauthorized transaction, please check client or server key",
        "Visit https://snap-docs.midtrans.com/#request-headers for more details",
    ]
}
NOT_FOUND: Final = {"status_code": "404", "status_message": "Transaction doesn't exist."}
DUPLICATE: Final = {
    "status_code": "406",
    "status_message": "Duplicate order ID. order_id has already been utilized.",
}
CANNOT_MODIFY: Final = {
    "status_code": "412",
    "status_message": "Merchant cannot modify the status of the transaction",
}
INTERNAL: Final = {"status_code": "500", "status_message": "Sorry, we encountered internal error."}
TOO_MANY: Final = {"status_code": "429", "status_message": "Too many requests, try again later."}


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """Midtrans' signature_key: SHA-512 hex over the plain concatenation."""
    return hashlib.sha512(
        f"{order_id}{status_code}{gross_amount}{server_key}".encode()
    ).hexdigest()


def _wib(moment: datetime) -> str:
    return moment.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S")


class FakeMidtrans:
    """Just enough of Midtrans for our adapter, with memory that tests read and steer."""

    def __init__(
        self,
        server_key: str = "SB-Mid-server-FAKE",
        *,
        errors_in_http: bool = False,
        slow_seconds: float = 1.0,
    ) -> None:
        self.server_key = server_key
        self.errors_in_http = errors_in_http
        self.slow_seconds = slow_seconds  # how late a "timeout" answer comes
        self.orders: dict[str, dict[str, Any]] = {}  # order_id -> the transaction as reported
        self.confused: dict[str, str] = {}  # order_id -> the order its status page shows
        self.snap_pages: dict[str, dict[str, Any]] = {}  # order_id -> Snap request, no choice yet
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []  # every JSON body received, in order
        self.notification_urls: dict[str, str] = {}  # order_id -> X-Override-Notification
        self._created: Counter[str] = Counter()
        self._failures: deque[FailMode] = deque()
        self._numbers = 0
        self.refunds: dict[str, dict[str, Any]] = {}  # refund_key -> the answer it got
        self.app = web.Application(middlewares=[self._middleware])
        self.app.add_routes(
            [
                web.post("/v2/charge", self._charge),
                web.get("/v2/{order_id}/status", self._status),
                web.post("/v2/{order_id}/cancel", self._cancel),
                web.post("/v2/{order_id}/refund", self._refund),
                web.post("/snap/v1/transactions", self._snap),
            ]
        )

    # -- steering ------------------------------------------------------------------------------

    def settle(self, order_id: str) -> None:
        self.set_status(order_id, "settlement", "accept")

    def set_status(
        self, order_id: str, transaction_status: str, fraud_status: str | None = None
    ) -> None:
        """Move a transaction; fraud_status=None removes the field (as cstore payments lack it)."""
        order = self.orders[order_id]
        order.update(
            transaction_status=transaction_status,
            status_code=STATUS_CODES.get(transaction_status, "200"),
        )
        order.pop("fraud_status", None)
        if fraud_status is not None:
            order["fraud_status"] = fraud_status
        if transaction_status == "settlement":
            order["settlement_time"] = _wib(datetime.now(WIB))

    def choose_method(self, order_id: str, method: str = "va:bca") -> None:
        """The customer picks a method on the Snap page (va:<bank>, qris): now it is a payment."""
        page = self.snap_pages.pop(order_id)
        kind, _, bank = method.partition(":")
        body = {**_charge_shape(kind, bank), **page}  # the page's order_id, amount and expiry
        self.orders[order_id] = self._transaction(body)

    def fail_next(self, mode: FailMode, times: int = 1) -> None:
        """Fail the next request(s) of any route.

        "timeout" does the work, then answers after slow_seconds (an outcome the client never
        sees); "500" and "429" (with Retry-After: RETRY_AFTER) answer only that, doing nothing.
        """
        self._failures.extend([mode] * times)

    def charge_count(self, order_id: str) -> int:
        """Payments created for this order_id (charges and Snap orders, not re-issued pages)."""
        return self._created[order_id]

    # -- notifications -------------------------------------------------------------------------

    def notification(
        self,
        order_id: str,
        *,
        status: str = "settlement",
        amount: int | str | None = None,
        forged: bool = False,
        fraud_status: str | None = "accept",
    ) -> bytes:
        """A notification body as Midtrans posts it, signed with the server key unless forged.

        amount: whole rupiah (int), or a str sent verbatim as gross_amount (e.g. "10.50").
        Builds from the order's memory when there is one; does not change the order.
        """
        known = self.orders.get(order_id)
        if known is None and amount is None:
            raise KeyError(f"unknown order {order_id!r}: give an amount")
        body = dict(known or self._transaction(_charge_shape("va", "bca", order_id)))
        gross = body["gross_amount"] if amount is None else _gross(amount)
        code = NOTIFICATION_CODES.get(status, "200")
        key = ("forged-" + self.server_key) if forged else self.server_key
        body.update(
            transaction_status=status,
            status_code=code,
            gross_amount=gross,
            status_message="midtrans payment notification",
            signature_key=signature(order_id, code, gross, key),
        )
        body.pop("fraud_status", None)
        if fraud_status is not None:
            body["fraud_status"] = fraud_status
        return json.dumps(body).encode()

    async def send_notification(
        self, http: aiohttp.ClientSession, url: str, order_id: str, **kw: Any
    ) -> int:
        """POST a notification to our callback URL the way Midtrans does; the HTTP status."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        async with http.post(url, data=self.notification(order_id, **kw), headers=headers) as r:
            return r.status

    # -- HTTP ----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        mode = self._failures.popleft() if self._failures else None
        if mode == "500":
            return web.json_response(INTERNAL, status=500)
        if mode == "429":
            return web.json_response(
                TOO_MANY, status=429, headers={"Retry-After": str(RETRY_AFTER)}
            )
        snap = request.path.startswith("/snap/")
        expected = "Basic " + base64.b64encode(f"{self.server_key}:".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return (
                web.json_response(SNAP_UNAUTHORIZED, status=401)
                if snap
                else self._error(CORE_UNAUTHORIZED)
            )
        response = await handler(request)
        if mode == "timeout":
            await asyncio.sleep(self.slow_seconds)  # the work is done; the answer comes late
        return response

    async def _charge(self, request: web.Request) -> web.Response:
        body, problem = await self._read(request)
        problem = problem or _charge_problem(body)
        if problem:
            return self._error(
                {
                    "status_code": "400",
                    "validation_messages": [problem],
                    "status_message": "One or more parameters in the payload is invalid.",
                }
            )
        order_id = body["transaction_details"]["order_id"]
        if order_id in self.orders or order_id in self.snap_pages:
            return self._error(DUPLICATE)
        self._remember(request, order_id)
        order = self.orders[order_id] = self._transaction(body)
        return web.json_response({**order, **_charge_extras(order, request)})

    async def _snap(self, request: web.Request) -> web.Response:
        body, problem = await self._read(request)
        problem = problem or _details_problem(body) or _snap_expiry_problem(body)
        if problem:
            return web.json_response({"error_messages": [problem]}, status=400)
        order_id = body["transaction_details"]["order_id"]
        if order_id in self.orders:
            return web.json_response(
                {"error_messages": ["transaction_details.order_id sudah digunakan"]}, status=400
            )
        if order_id not in self.snap_pages:
            self._remember(request, order_id)
        self.snap_pages[order_id] = body  # a re-issued page replaces the old token
        token = str(uuid.uuid4())
        url = f"{request.url.origin()}/snap/v2/vtweb/{token}"
        return web.json_response({"token": token, "redirect_url": url}, status=201)

    def confuse(self, order_id: str, other: str) -> None:
        """The status of order_id answers with another order's transaction."""
        self.confused[order_id] = other

    async def _status(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        order = self.orders.get(self.confused.get(order_id, order_id))
        return self._error(NOT_FOUND) if order is None else web.json_response(order)

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return self._error(NOT_FOUND)
        status, fraud = order["transaction_status"], order.get("fraud_status")
        if status not in ("pending", "authorize") and (status, fraud) != ("capture", "challenge"):
            return self._error(CANNOT_MODIFY)
        self.set_status(order["order_id"], "cancel", order.get("fraud_status"))
        order["status_code"] = "200"
        return web.json_response({**order, "status_message": "Success, transaction is canceled"})

    async def _refund(self, request: web.Request) -> web.Response:
        """Once per refund_key; settled non-bank-transfer payments only; never more than paid."""
        body, problem = await self._read(request)
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return self._error(NOT_FOUND)
        if problem or not isinstance(body, dict) or not isinstance(body.get("refund_key"), str):
            return self._error({"status_code": "400", "status_message": problem or "refund_key"})
        if (done := self.refunds.get(body["refund_key"])) is not None:
            return web.json_response(done)
        amount, gross = body.get("amount"), int(order["gross_amount"].split(".")[0])
        given = sum(int(r["refund_amount"].split(".")[0]) for r in self.refunds.values()
                    if r["order_id"] == order["order_id"])  # fmt: skip
        settled = order["transaction_status"] in ("settlement", "partial_refund")
        if not settled or order["payment_type"] in ("bank_transfer", "echannel"):
            return self._error(CANNOT_MODIFY)
        if not isinstance(amount, int) or not 0 < amount <= gross - given:
            return self._error(CANNOT_MODIFY)
        status = "refund" if given + amount == gross else "partial_refund"
        self.set_status(order["order_id"], status, order.get("fraud_status"))
        answer = {**order, "status_code": "200", "status_message": "Success, refund is approved",
                  "refund_chargeback_id": len(self.refunds) + 1, "refund_amount": f"{amount}.00",
                  "refund_key": body["refund_key"]}  # fmt: skip
        self.refunds[body["refund_key"]] = answer
        return web.json_response(answer)

    # -- helpers -------------------------------------------------------------------------------

    def _error(self, payload: dict[str, Any]) -> web.Response:
        status = int(payload["status_code"]) if self.errors_in_http else 200
        return web.json_response({**payload, "id": str(uuid.uuid4())}, status=status)

    async def _read(self, request: web.Request) -> tuple[Any, str | None]:
        if request.content_type != "application/json":
            return None, "Content-Type must be application/json"
        try:
            body = await request.json()
        except ValueError:
            return None, "There was a problem in the JSON you submitted"
        self.bodies.append(body)
        return body, None

    def _remember(self, request: web.Request, order_id: str) -> None:
        self._created[order_id] += 1
        if url := request.headers.get("X-Override-Notification"):
            self.notification_urls[order_id] = url

    def _transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        """A transaction as status answers and notifications report it."""
        details, now = body["transaction_details"], datetime.now(WIB)
        self._numbers += 1
        order = {
            "status_code": "201",
            "status_message": "Success, transaction is found",
            "transaction_id": str(uuid.uuid4()),
            "order_id": details["order_id"],
            "merchant_id": MERCHANT_ID,
            "gross_amount": _gross(details["gross_amount"]),
            "currency": "IDR",
            "payment_type": body["payment_type"],
            "transaction_time": _wib(now),
            "transaction_status": "pending",
            "fraud_status": "accept",
            "expiry_time": _wib(now + _lifetime(body)),
        }
        return {**order, **_method_fields(body, self._numbers)}


def _gross(amount: int | str) -> str:
    return amount if isinstance(amount, str) else f"{amount}.00"


def _charge_shape(kind: str, bank: str, order_id: str = "", amount: int = 0) -> dict[str, Any]:
    """A charge request for one of our local method names (va:bca, va:mandiri, qris)."""
    details = {"transaction_details": {"order_id": order_id, "gross_amount": amount}}
    if kind == "qris":
        return {"payment_type": "qris", "qris": {"acquirer": "gopay"}, **details}
    if bank == "mandiri":
        bill = {"bill_info1": "Order", "bill_info2": order_id or "-"}
        return {"payment_type": "echannel", "echannel": bill, **details}
    return {"payment_type": "bank_transfer", "bank_transfer": {"bank": bank}, **details}


def _method_fields(body: dict[str, Any], n: int) -> dict[str, Any]:
    """Where each method puts its numbers: Permata and Mandiri Bill differ from other VAs."""
    if body["payment_type"] == "echannel":
        return {"bill_key": f"99{n:010d}", "biller_code": BILLER_CODE}
    if body["payment_type"] == "qris":
        return {"acquirer": body.get("qris", {}).get("acquirer", "gopay")}
    bank = body["bank_transfer"]["bank"]
    if bank == "permata":
        return {"permata_va_number": f"8778{n:012d}"}
    return {"va_numbers": [{"bank": bank, "va_number": f"8127{n:011d}"}], "payment_amounts": []}


def _charge_extras(order: dict[str, Any], request: web.Request) -> dict[str, Any]:
    """QRIS charge answers carry the QR; status answers do not (our reading, UNCONFIRMED)."""
    if order["payment_type"] != "qris":
        return {"status_message": "Success, transaction is created"}
    qr_url = f"{request.url.origin()}/v2/qris/{order['transaction_id']}/qr-code"
    return {
        "status_message": "Success, QRIS transaction is created",
        "qr_string": f"00020101021226620014COM.GO-JEK.WWW0118{order['order_id']}6304ABCD",
        "actions": [{"name": "generate-qr-code", "method": "GET", "url": qr_url}],
    }


def _lifetime(body: dict[str, Any]) -> timedelta:
    expiry = body.get("custom_expiry") or body.get("expiry")
    if expiry:
        duration = expiry.get("expiry_duration", expiry.get("duration"))
        return timedelta(seconds=duration * EXPIRY_UNITS[expiry["unit"].rstrip("s")])
    return timedelta(minutes=15) if body.get("payment_type") == "qris" else timedelta(days=1)


def _details_problem(body: Any) -> str | None:
    details = body.get("transaction_details") if isinstance(body, dict) else None
    if not isinstance(details, dict):
        return "transaction_details is required"
    order_id, amount = details.get("order_id"), details.get("gross_amount")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= 50:
        return "transaction_details.order_id is required (at most 50 characters)"
    if type(amount) is not int or amount <= 0:
        return "transaction_details.gross_amount must be a positive integer"
    return None


def _charge_problem(body: Any) -> str | None:
    problem = _details_problem(body)
    if problem:
        return problem
    kind = body.get("payment_type")
    if kind not in ("bank_transfer", "echannel", "qris"):
        return f"payment_type {kind!r} is not supported"
    options = body.get(kind) if isinstance(body.get(kind), dict) else {}
    if kind == "bank_transfer" and options.get("bank") not in VA_BANKS:
        return "bank_transfer.bank is not supported"
    if kind == "echannel" and not (options.get("bill_info1") and options.get("bill_info2")):
        return "echannel.bill_info1 and echannel.bill_info2 are required"
    return _custom_expiry_problem(body.get("custom_expiry"))


def _custom_expiry_problem(expiry: Any) -> str | None:
    if expiry is None:
        return None
    try:
        datetime.strptime(expiry["order_time"], "%Y-%m-%d %H:%M:%S %z")
    except (KeyError, TypeError, ValueError):
        return "custom_expiry.order_time must look like 2026-01-15 10:01:26 +0700"
    duration = expiry.get("expiry_duration")
    if type(duration) is not int or duration <= 0 or expiry.get("unit") not in EXPIRY_UNITS:
        return "custom_expiry needs a positive integer expiry_duration and a unit"
    return None


def _snap_expiry_problem(body: dict[str, Any]) -> str | None:
    expiry = body.get("expiry")
    if expiry is None:
        return None
    try:
        datetime.strptime(expiry["start_time"], "%Y-%m-%d %H:%M:%S %z")
    except (KeyError, TypeError, ValueError):
        return "expiry.start_time must look like 2026-01-15 10:01:26 +0700"
    unit, duration = str(expiry.get("unit", "")).rstrip("s"), expiry.get("duration")
    if unit not in ("day", "hour", "minute") or type(duration) is not int or duration <= 0:
        return "expiry needs a unit (day, hour, minute) and a positive integer duration"
    return None
