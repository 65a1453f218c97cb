"""Just enough of iPaymu v2 for our adapter: signed requests, payments, status checks, callbacks.

It follows https://github.com/ipaymu/docs-ipaymu-api-v2. Where iPaymu documents nothing it takes
the harsher reading: a repeated referenceId makes a second payment, and errors come as
{"Status", "Message"} with the HTTP status mirroring Status (or 200 with mirror_status=False;
UNCONFIRMED which).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FailMode = Literal["timeout", "500", "429"]

CHANNELS: Final = {
    "va": {"bag", "bca", "bpd_bali", "bni", "cimb", "mandiri", "bmi", "bri", "bsi", "permata",
           "danamon", "btn"},
    "qris": {"mpm"},
    "cstore": {"alfamart", "indomaret"},
}  # fmt: skip
FEES: Final = {"va": 4000, "qris": 1050, "cstore": 5000, "link": 4000}
STATUS_WORDS: Final = {-2: "expired", 0: "pending", 1: "berhasil", 6: "berhasil", 7: "berhasil"}
TIMESTAMP: Final = re.compile(r"\d{14}")  # YYYYMMDDhhmmss, as the official samples send it
WIB_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


@dataclass
class FakePayment:
    trx_id: int
    reference: str
    amount: int
    via: str  # va, qris or link (a hosted page; iPaymu only learns the method later)
    channel: str
    buyer: dict[str, str]
    notify_url: str
    fee_direction: str
    expires: datetime
    status: int = 0
    sid: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    created: datetime = field(default_factory=datetime.now)
    payment_no: str = ""

    @property
    def fee(self) -> int:
        return FEES[self.via]

    @property
    def total(self) -> int:
        return self.amount + (self.fee if self.fee_direction == "BUYER" else 0)


class FakeIpaymu:
    """An aiohttp app with memory. Tests steer it (pay, set_status, fail_next) and read calls."""

    def __init__(
        self, *, va: str, api_key: str, mirror_status: bool = True, slow_seconds: float = 1.0
    ) -> None:
        self.va, self.api_key = va, api_key
        self.mirror_status = mirror_status
        self.slow_seconds = slow_seconds  # how long "timeout" holds an answer back
        self.null_reference = False  # /transaction answers ReferenceId null, as iPaymu's sample
        self.confused: dict[int, int] = {}  # trx_id -> the transaction /transaction shows
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []  # every request body exactly as received
        self.payments: dict[int, FakePayment] = {}
        self._failures: list[FailMode] = []
        self._next_trx = 184854
        self._released = asyncio.Event()
        self.app = web.Application(middlewares=[self._gate])
        self.app.add_routes(
            [
                web.post("/api/v2/payment", self._redirect),
                web.post("/api/v2/payment/direct", self._direct),
                web.post("/api/v2/transaction", self._transaction),
            ]
        )
        self.app.on_shutdown.append(self._release)

    # -- steering -------------------------------------------------------------------------

    def confuse(self, reference: str, other: str) -> None:
        """/transaction for reference's trx_id answers with other's transaction."""
        self.confused[self.latest(reference).trx_id] = self.latest(other).trx_id

    def pay(self, reference: str) -> None:
        self.set_status(reference, 1)

    def set_status(self, reference: str, code: int) -> None:
        self.latest(reference).status = code

    def fail_next(self, mode: FailMode) -> None:
        """The next request fails: "timeout" answers late (after acting), "500", "429"."""
        self._failures.append(mode)

    def payments_for(self, reference: str) -> int:
        return sum(1 for p in self.payments.values() if p.reference == reference)

    def latest(self, reference: str) -> FakePayment:
        matches = [p for p in self.payments.values() if p.reference == reference]
        if not matches:
            raise KeyError(f"no fake iPaymu payment for {reference!r}")
        return matches[-1]

    # -- callbacks ------------------------------------------------------------------------

    def callback(
        self,
        reference: str,
        *,
        status: int = 1,
        form: bool = True,
        forged: bool = False,
        amount: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a notifyUrl callback as iPaymu sends it (see the examples)."""
        fields = self._callback_fields(self.latest(reference), status, amount)
        key = f"not-{self.va}" if forged else self.va
        headers = {
            "Accept": "application/json",
            "X-External-ID": datetime.now().strftime("%Y%m%d%H%M%S%f"),
            "X-Signature": sign_callback(fields, key),
            "X-Timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        if not form:
            headers["Content-Type"] = "application/json"
            return headers, php_json(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers, urlencode({k: form_value(v) for k, v in fields.items()}).encode()

    async def send_callback(
        self, http: aiohttp.ClientSession, url: str, reference: str, **kw: Any
    ) -> int:
        """POST a callback to our route; the HTTP status it answered."""
        headers, body = self.callback(reference, **kw)
        async with http.post(url, data=body, headers=headers) as resp:
            return resp.status

    def _callback_fields(
        self, payment: FakePayment, status: int, amount: int | None
    ) -> dict[str, Any]:
        sub_total = payment.amount if amount is None else amount
        total = sub_total + (payment.fee if payment.fee_direction == "BUYER" else 0)
        paid = status in (1, 6, 7)
        fields: dict[str, Any] = {
            "trx_id": payment.trx_id,
            "sid": payment.sid,
            "reference_id": payment.reference,
            "status": STATUS_WORDS.get(status, "gagal"),
            "status_code": status,
            "sub_total": str(sub_total),
            "total": str(total),
            "amount": str(total),
            "fee": str(payment.fee),
            "paid_off": total - payment.fee if paid else 0,
            "created_at": payment.created.strftime(WIB_FORMAT),
            "expired_at": payment.expires.strftime(WIB_FORMAT),
            "paid_at": datetime.now().strftime(WIB_FORMAT) if paid else "",
            "settlement_status": "settled" if status == 1 else "unsettle",
            "transaction_status_code": status,
            "is_escrow": status == 7,
            "system_notes": "Sandbox notify",
            "via": "va" if payment.via == "link" else payment.via,
            "channel": "bca" if payment.via == "link" else payment.channel,
            "payment_no": payment.payment_no,
            "buyer_name": payment.buyer.get("name", ""),
            "buyer_email": payment.buyer.get("email", ""),
            "buyer_phone": payment.buyer.get("phone", ""),
            "additional_info": [],
            "url": payment.notify_url,
        }
        if payment.via == "va":
            fields["va"] = payment.payment_no  # absent for QRIS, as in the examples
        return fields

    # -- the API ----------------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record, fail on demand, then check the signature over the bytes received."""
        self.calls.append((request.method, request.path))
        body = await request.read()
        self.bodies.append(body)
        mode = self._failures.pop(0) if self._failures else None
        if mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if mode == "429":
            return web.json_response(
                {"Status": 429, "Message": "Too Many Requests"},
                status=429,
                headers={"Retry-After": "7"},
            )
        if not self._authentic(request, body):
            return self._error(401, "unauthorized")
        if request.content_type != "application/json":
            return self._error(400, "error - invalid request")
        response = await handler(request)
        if mode == "timeout":  # acted, but the answer comes too late: the worst case
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.slow_seconds)
        return response

    def _authentic(self, request: web.Request, body: bytes) -> bool:
        body_hash = hashlib.sha256(body).hexdigest()
        text = f"{request.method}:{self.va}:{body_hash}:{self.api_key}"
        expected = hmac.new(self.api_key.encode(), text.encode(), hashlib.sha256).hexdigest()
        given = request.headers.get("signature", "")
        return (
            request.headers.get("va") == self.va
            and hmac.compare_digest(given.encode(), expected.encode())
            and TIMESTAMP.fullmatch(request.headers.get("timestamp", "")) is not None
        )

    async def _redirect(self, request: web.Request) -> web.Response:
        data = await request.json()
        lists = [data.get(k) for k in ("product", "qty", "price", "description")]
        missing = [
            k for k in ("product", "qty", "price", "returnUrl", "notifyUrl", "cancelUrl")
            if not data.get(k)
        ]  # fmt: skip
        if missing or not all(isinstance(v, list) and len(v) == len(lists[0]) for v in lists):
            return self._invalid(missing or ["product"])
        for name in ("price", "qty"):
            if not all(_positive_int(v) for v in data[name]):
                return self._invalid([name])
        buyer = {k: data.get(f"buyer{k.title()}", "") for k in ("name", "email", "phone")}
        amount = sum(int(p) * int(q) for p, q in zip(data["price"], data["qty"], strict=True))
        payment = self._store(data, amount, "link", "", buyer)
        session = payment.sid
        url = f"{request.url.origin()}/payment/{session}"
        return self._ok({"SessionID": session, "Url": url})

    async def _direct(self, request: web.Request) -> web.Response:
        data = await request.json()
        required = ("name", "phone", "email", "amount", "notifyUrl", "referenceId",
                    "paymentMethod", "paymentChannel")  # fmt: skip
        missing = [k for k in required if data.get(k) in (None, "")]
        method, channel = data.get("paymentMethod"), data.get("paymentChannel")
        if missing:
            return self._invalid(missing)
        if channel not in CHANNELS.get(method, ()):
            return self._invalid(["paymentChannel"])
        if not _positive_int(data["amount"]):
            return self._invalid(["amount"])
        if "expired" in data and not _positive_int(data["expired"]):
            return self._invalid(["expired"])
        buyer = {k: data[k] for k in ("name", "email", "phone")}
        payment = self._store(data, int(data["amount"]), method, channel, buyer)
        return self._ok(self._direct_answer(payment))

    def _direct_answer(self, payment: FakePayment) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "SessionId": payment.sid,
            "TransactionId": payment.trx_id,
            "ReferenceId": payment.reference,
            "Via": payment.via.upper(),
            "Channel": payment.channel.upper(),
            "PaymentNo": payment.payment_no,
            "PaymentName": payment.buyer["name"],
            "Total": payment.total,
            "Fee": payment.fee,
            "Expired": payment.expires.strftime(WIB_FORMAT),
        }
        if payment.via == "qris":
            answer |= {
                "QrString": payment.payment_no,
                "QrImage": f"https://sandbox.ipaymu.com/qr/{payment.trx_id}.png",
                "SubTotal": payment.amount,
            }
        return answer

    async def _transaction(self, request: web.Request) -> web.Response:
        data = await request.json()
        trx = str(data.get("transactionId", ""))
        payment = (
            self.payments.get(self.confused.get(int(trx), int(trx))) if trx.isdecimal() else None
        )
        if payment is None:  # iPaymu's answer for an unknown id is UNCONFIRMED
            return self._error(404, "Transaction not found")
        return self._ok(
            {
                "TransactionId": payment.trx_id,
                "SessionId": payment.sid,
                "ReferenceId": None if self.null_reference else payment.reference,
                "Amount": payment.total,
                "Fee": payment.fee,
                "Status": payment.status,
                "StatusDesc": STATUS_WORDS.get(payment.status, "gagal").title(),
                "PaidStatus": "paid" if payment.status in (1, 6, 7) else "unpaid",
                "CreatedDate": payment.created.strftime(WIB_FORMAT),
                "ExpiredDate": payment.expires.strftime(WIB_FORMAT),
                "PaymentChannel": payment.channel,
                "PaymentCode": payment.payment_no,
            }
        )

    def _store(
        self, data: dict[str, Any], amount: int, via: str, channel: str, buyer: dict[str, str]
    ) -> FakePayment:
        """A new payment every time: iPaymu documents no deduplication of referenceId."""
        self._next_trx += 1
        hours = 12 if channel == "bca" else 0.1 if via == "qris" else data.get("expired", 24)
        payment = FakePayment(
            trx_id=self._next_trx,
            reference=str(data.get("referenceId", "")),
            amount=amount,
            via=via,
            channel=channel,
            buyer=buyer,
            notify_url=data["notifyUrl"],
            fee_direction=data.get("feeDirection", "BUYER"),
            expires=datetime.now() + timedelta(hours=float(hours)),
        )
        if via == "va":
            payment.payment_no = f"00770{self._next_trx:011d}"  # leading zeros, kept as text
        elif via == "qris":
            payment.payment_no = f"00020101021226670016COM.NOBUBANK.WWW{self._next_trx}5204"
        self.payments[payment.trx_id] = payment
        return payment

    def _ok(self, data: dict[str, Any]) -> web.Response:
        return web.json_response(
            {"Status": 200, "Success": True, "Message": "Success", "Data": data}
        )

    def _invalid(self, names: list[str]) -> web.Response:
        errors = {name: [f"{name} wajib diisi."] for name in names}
        return self._error(400, "error - invalid request", Error=errors)

    def _error(self, status: int, message: str, **extra: Any) -> web.Response:
        body = {"Status": status, "Message": message, **extra}
        return web.json_response(body, status=status if self.mirror_status else 200)

    async def _release(self, app: web.Application) -> None:
        self._released.set()  # a held-back answer must not delay the server's shutdown


def sign_callback(fields: dict[str, Any], secret: str) -> str:
    """iPaymu's callback HMAC as iPaymu's docs describe it, written apart from the adapter's."""
    ordered = {key: fields[key] for key in sorted(fields) if key != "signature"}
    return hmac.new(secret.encode(), php_json(ordered).encode(), hashlib.sha256).hexdigest()


def php_json(value: Any) -> str:
    """PHP json_encode: compact, ASCII-only, slashes escaped."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def form_value(value: Any) -> str:
    """How PHP puts a typed value into a form body: booleans as words, arrays as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list) else str(value)


def _positive_int(value: Any) -> bool:
    if isinstance(value, str) and value.isdecimal():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
