"""A fake Safaricom Daraja (OAuth, STK push, STK query) that enforces what our adapter needs.

Shapes follow the recordings beside this file (copied from the project's gateway notes) and
the Daraja guides: a client-credentials token from Basic consumer key:secret that lives an
hour (the fake counts how many were asked for, and can expire them); STK push with Password =
base64(shortcode + passkey + timestamp) and the timestamp in Kenyan time (checked against the
clock, so a UTC one fails), Paybill or Buy Goods with the right PartyB, whole shillings, a
2547/2541 number, AccountReference of at most 12 characters; the STK query's "being processed"
error while the prompt is open; callbacks posted, unsigned, to the CallBackURL each push named.
Error codes that the notes mark UNCONFIRMED are marked so here too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, Literal, cast

import aiohttp
from aiohttp import web

FailMode = Literal["timeout", "500", "429"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EAT: Final = timezone(timedelta(hours=3))
CLOCK_SKEW: Final = 300  # seconds a Timestamp may be off Kenyan time (UNCONFIRMED window)
PHONE: Final = re.compile(r"^254(7|1)\d{8}$")
TYPES: Final = frozenset({"CustomerPayBillOnline", "CustomerBuyGoodsOnline"})
DESCRIPTIONS: Final = {
    "0": "The service request is processed successfully.",
    "1": "The balance is insufficient for the transaction.",
    "1032": "Request cancelled by user",
    "1037": "DS timeout user cannot be reached",
    "2001": "The initiator information is invalid.",
}


def _error(code: str, message: str, status: int) -> web.Response:
    body = {"requestId": uuid.uuid4().hex[:20], "errorCode": code, "errorMessage": message}
    return web.json_response(body, status=status)


def _bad(what: str) -> web.Response:
    return _error("400.002.02", f"Bad Request - Invalid {what}", 400)


class FakeDaraja:
    """Just enough of Daraja for our adapter, with memory that tests read and steer."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        shortcode: str,
        passkey: str,
        *,
        transaction_type: str = "CustomerPayBillOnline",
        till_number: str = "",
        slow_seconds: float = 1.0,
        token_life: int = 3599,
    ) -> None:
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.shortcode, self.passkey = shortcode, passkey
        self.transaction_type, self.till_number = transaction_type, till_number
        self.slow_seconds, self.token_life = slow_seconds, token_life
        self.tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self.token_requests = 0
        self.pushes: dict[str, dict[str, Any]] = {}  # CheckoutRequestID -> push
        self.refs: dict[str, str] = {}  # AccountReference -> its latest CheckoutRequestID
        self.confused: dict[str, str] = {}  # id -> the id whose answer its query gives
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []
        self.refusals: list[str] = []  # why pushes and queries were refused
        self._created: Counter[str] = Counter()
        self._failures: deque[FailMode] = deque()
        self.app = web.Application(middlewares=[self._middleware])
        self.app.add_routes(
            [
                web.get("/oauth/v1/generate", self._token),
                web.post("/mpesa/stkpush/v1/processrequest", self._push),
                web.post("/mpesa/stkpushquery/v1/query", self._query),
            ]
        )

    # -- steering ------------------------------------------------------------------------------

    def push(self, reference: str) -> dict[str, Any]:
        return self.pushes[self.refs[reference]]

    def pay(self, reference: str) -> None:
        self.set_status(reference, "0")

    def set_status(self, reference: str, code: str) -> None:
        """The prompt is answered: a ResultCode ("0" paid, "1032" cancelled, ...)."""
        self.push(reference)["result"] = str(code)

    def set_amount(self, reference: str, amount: int) -> None:
        """What the callback reports as paid, in shillings (the query reports no amount)."""
        self.push(reference)["paid"] = amount

    def confuse(self, reference: str, other: str) -> None:
        self.confused[self.refs[reference]] = self.refs[other]

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on, as after its hour."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def fail_next(self, mode: str, times: int = 1) -> None:
        """For the next STK push: "timeout" does the work and answers after slow_seconds;
        "500"/"429" do nothing."""
        assert mode in ("timeout", "500", "429"), mode
        self._failures.extend([cast(FailMode, mode)] * times)

    def created(self, reference: str) -> int:
        return self._created[reference]

    # -- callbacks -----------------------------------------------------------------------------

    def callback(
        self, reference: str, *, status: str | None = None, amount: int | None = None
    ) -> dict[str, Any]:
        """The callback Daraja posts for our reference's push; by default it claims paid."""
        push = self.push(reference)
        code = str(status if status is not None else "0")
        inner: dict[str, Any] = {
            "MerchantRequestID": push["MerchantRequestID"],
            "CheckoutRequestID": push["CheckoutRequestID"],
            "ResultCode": int(code) if code.isdigit() else code,  # a number in callbacks
            "ResultDesc": DESCRIPTIONS.get(code, "Result"),
        }
        if code == "0":
            paid = push.get("paid", push["Amount"]) if amount is None else amount
            stamp = int(datetime.now(EAT).strftime("%Y%m%d%H%M%S"))
            inner["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": float(paid)},
                    {"Name": "MpesaReceiptNumber", "Value": f"TAF{uuid.uuid4().hex[:7].upper()}"},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": stamp},
                    {"Name": "PhoneNumber", "Value": int(push["PhoneNumber"])},
                ]
            }
        return {"Body": {"stkCallback": inner}}

    async def post(self, http: aiohttp.ClientSession, url: str, body: Any) -> int:
        """POST a body, unsigned as Daraja sends it, to url; the HTTP status."""
        headers = {"Content-Type": "application/json"}
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
        """POST the callback for reference to the CallBackURL its push named. Forged: to url
        itself, without the token, as anyone who knows our server's address could."""
        target = url if forged else self.push(reference)["CallBackURL"]
        return await self.post(http, target, self.callback(reference, **kw))

    # -- HTTP ----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if request.path == "/oauth/v1/generate":
            return await handler(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        if self.tokens.get(token, 0.0) <= time.monotonic():
            return _error("404.001.04", "Invalid Access Token", 401)  # status UNCONFIRMED
        pushing = request.path.endswith("/processrequest")
        mode = self._failures.popleft() if pushing and self._failures else None
        if mode == "500":
            return _error("500.003.02", "System is busy. Please try again in few minutes.", 500)
        if mode == "429":
            return _error("429.001.01", "Too many requests", 429)
        response = await handler(request)
        if mode == "timeout":
            await asyncio.sleep(self.slow_seconds)  # the work is done; the answer comes late
        return response

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.query.get("grant_type") != "client_credentials":
            return _error("400.008.02", "Invalid grant type passed", 400)
        pair = f"{self.consumer_key}:{self.consumer_secret}".encode()
        if request.headers.get("Authorization") != "Basic " + base64.b64encode(pair).decode():
            return _error("400.008.01", "Invalid Authentication passed", 400)  # UNCONFIRMED
        token = uuid.uuid4().hex
        self.tokens[token] = time.monotonic() + self.token_life
        return web.json_response({"access_token": token, "expires_in": str(self.token_life)})

    async def _read(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        self.bodies.append(body)
        return body if isinstance(body, dict) else None

    def _refuse(self, what: str) -> web.Response:
        self.refusals.append(what)
        return _bad(what)

    def _signed_problem(self, body: dict[str, Any]) -> str | None:
        """BusinessShortCode, Timestamp (Kenyan time, now) and the Password made of them."""
        if body.get("BusinessShortCode") != self.shortcode:
            return "BusinessShortCode"
        stamp = body.get("Timestamp")
        try:
            when = datetime.strptime(str(stamp), "%Y%m%d%H%M%S").replace(tzinfo=EAT)
        except ValueError:
            return "Timestamp"
        if abs((when - datetime.now(UTC)).total_seconds()) > CLOCK_SKEW:
            return "Timestamp"
        wanted = base64.b64encode(f"{self.shortcode}{self.passkey}{stamp}".encode()).decode()
        return None if body.get("Password") == wanted else "Password"

    def _push_problem(self, body: dict[str, Any]) -> str | None:
        kind = body.get("TransactionType")
        if kind not in TYPES or kind != self.transaction_type:
            return "TransactionType"
        till = kind == "CustomerBuyGoodsOnline"
        if body.get("PartyB") != (self.till_number if till else self.shortcode):
            return "PartyB"
        amount = body.get("Amount")
        if type(amount) is not int or amount < 1:  # whole shillings only
            return "Amount"
        phone = body.get("PhoneNumber")
        if not isinstance(phone, str) or not PHONE.match(phone) or body.get("PartyA") != phone:
            return "PhoneNumber"
        url = body.get("CallBackURL")
        if not isinstance(url, str) or not re.match(r"^https?://[^/]+/", url):
            return "CallBackURL"
        ref, desc = body.get("AccountReference"), body.get("TransactionDesc")
        if not isinstance(ref, str) or not 1 <= len(ref) <= 12:
            return "AccountReference"
        if not isinstance(desc, str) or not 1 <= len(desc) <= 13:  # limit UNCONFIRMED
            return "TransactionDesc"
        return None

    async def _push(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if body is None:
            return self._refuse("Request")
        problem = self._signed_problem(body) or self._push_problem(body)
        if problem:
            return self._refuse(problem)
        checkout_id = f"ws_CO_{datetime.now(EAT):%d%m%Y%H%M%S}{uuid.uuid4().int % 10**9:09d}"
        merchant_id = f"{uuid.uuid4().int % 10**5}-{uuid.uuid4().int % 10**8}-1"
        self.pushes[checkout_id] = {
            **body,
            "CheckoutRequestID": checkout_id,
            "MerchantRequestID": merchant_id,
            "result": None,  # the prompt is open
        }
        self.refs[body["AccountReference"]] = checkout_id
        self._created[body["AccountReference"]] += 1
        accepted = "Success. Request accepted for processing"
        return web.json_response(
            {
                "MerchantRequestID": merchant_id,
                "CheckoutRequestID": checkout_id,
                "ResponseCode": "0",
                "ResponseDescription": accepted,
                "CustomerMessage": accepted,
            }
        )

    async def _query(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if body is None:
            return self._refuse("Request")
        problem = self._signed_problem(body)
        if problem:
            return self._refuse(problem)
        asked = str(body.get("CheckoutRequestID"))
        push = self.pushes.get(self.confused.get(asked, asked))
        if push is None:
            return self._refuse("CheckoutRequestID")
        if push["result"] is None:  # exact code UNCONFIRMED
            return _error("500.001.1001", "The transaction is being processed", 500)
        code = push["result"]
        return web.json_response(
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": push["MerchantRequestID"],
                "CheckoutRequestID": push["CheckoutRequestID"],
                "ResultCode": code,
                "ResultDesc": DESCRIPTIONS.get(code, "Result"),
            }
        )
