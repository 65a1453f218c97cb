"""A fake ClickPesa (token, USSD push, payment status, webhooks) that enforces its contract.

After ../shared/gateways/clickpesa.md and the recordings beside this file: a token from
`client-id`/`api-key` that already reads "Bearer ..." and expires (401 after), 400 for a bad
amount, currency, phone or orderReference, 409 for a reference used before, the canonical
checksum required on every POST body while the account has a checksum key, a status answer
that is a list (404 for a reference it does not know), 120 requests a minute per client (429),
and webhooks in both envelope spellings with the checksum in the body or a header.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

import aiohttp
from aiohttp import web

FailMode = Literal["timeout", "500", "429"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RETRY_AFTER: Final = 20
CLIENT_ID: Final = "IDmadeup0001"
PHONE_RE: Final = re.compile(r"^255[67][0-9]{8}$")
REFERENCE_RE: Final = re.compile(r"^[A-Za-z0-9]+$")
AMOUNT_RE: Final = re.compile(r"^[1-9][0-9]*$")
NETWORKS: Final = {"74": "M-PESA", "75": "M-PESA", "76": "M-PESA", "68": "AIRTEL-MONEY",
                   "69": "AIRTEL-MONEY", "78": "AIRTEL-MONEY", "65": "TIGO-PESA",
                   "67": "TIGO-PESA", "71": "TIGO-PESA", "62": "HALOPESA"}  # fmt: skip
PATHS: Final = {
    "token": "/generate-token",
    "preview": "/payments/preview-ussd-push-request",
    "initiate": "/payments/initiate-ussd-push-request",
    "status": "/payments/",
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def canonical_checksum(payload: dict[str, Any], key: str) -> str:
    """ClickPesa's canonical checksum, written again here so the fake is not our adapter."""
    kept = {k: v for k, v in payload.items() if k not in ("checksum", "checksumMethod")}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def _message(text: str, status: int) -> web.Response:
    return web.json_response({"message": text}, status=status)


class FakeClickPesa:
    """Just enough of ClickPesa for our adapter, with memory that tests read and steer."""

    def __init__(
        self,
        api_key: str,
        checksum_key: str = "",
        *,
        client_id: str = CLIENT_ID,
        slow_seconds: float = 1.0,
        per_minute: int = 120,
        token_life: float = 3600.0,
    ) -> None:
        self.client_id, self.api_key, self.checksum_key = client_id, api_key, checksum_key
        self.slow_seconds, self.per_minute, self.token_life = slow_seconds, per_minute, token_life
        self.tokens: dict[str, float] = {}  # token -> when it stops working (monotonic)
        self.token_requests = 0
        self.payments: dict[str, dict[str, Any]] = {}  # orderReference -> payment
        self.confused: dict[str, str] = {}  # reference -> the reference whose list it shows
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, Any]] = []  # (path, body) of every POST with a body
        self.limited = 0  # answers 429 for the rate limit
        self.networks_up = True
        self._window: deque[float] = deque()
        self._created: Counter[str] = Counter()
        self._failures: deque[tuple[FailMode, str]] = deque()
        self.app = web.Application(middlewares=[self._middleware])
        self.app.add_routes(
            [
                web.post(PATHS["token"], self._token),
                web.post(PATHS["preview"], self._preview),
                web.post(PATHS["initiate"], self._initiate),
                web.get("/payments/{reference}", self._status),
            ]
        )

    # -- steering ------------------------------------------------------------------------------

    def payment(self, reference: str) -> dict[str, Any]:
        return self.payments[reference]

    def pay(self, reference: str) -> None:
        self.payments[reference].update(
            status="SUCCESS", message="success", paymentReference=f"MP{secrets.token_hex(5)}"
        )

    def fail(self, reference: str, message: str = "Insufficient balance") -> None:
        self.payments[reference].update(status="FAILED", message=message)

    def set_status(self, reference: str, status: str) -> None:
        self.payments[reference]["status"] = status

    def set_amount(self, reference: str, amount: int) -> None:
        self.payments[reference]["collectedAmount"] = amount

    def confuse(self, reference: str, other: str) -> None:
        """GET for reference answers with other's payment."""
        self.confused[reference] = other

    def expire_tokens(self) -> None:
        """Every token handed out so far stops working (as turning the checksum on does)."""
        self.tokens.clear()

    def fail_next(self, mode: str, times: int = 1, on: str = "initiate") -> None:
        """On the next call to `on` (token, preview, initiate, status): "timeout" does the
        work and answers after slow_seconds; "500"/"429" do nothing."""
        assert mode in ("timeout", "500", "429") and on in PATHS, (mode, on)
        self._failures.extend([(cast(FailMode, mode), PATHS[on])] * times)

    def created(self, reference: str) -> int:
        return self._created[reference]

    # -- webhooks ------------------------------------------------------------------------------

    def callback(
        self,
        reference: str,
        *,
        status: str | None = None,
        old_spelling: bool = False,
        key: str | None = None,
        where: str = "body",
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The webhook ClickPesa posts for reference, and its headers; by default it claims
        paid. `old_spelling`: `eventType`, `paymentId`, `amount`, `customer.name`/`phone`.
        The checksum (with `key`, the account's by default) goes in the body or, with
        `where="header"`, in X-ClickPesa-Signature."""
        item = self.payments[reference]
        word = status or (
            "SUCCESS" if item["status"] in ("PROCESSING", "PENDING") else item["status"]
        )
        data: dict[str, Any] = {
            "id": item["id"],
            "status": word,
            "paymentReference": item.get("paymentReference") or "MP260115.1411.M96516",
            "orderReference": reference,
            "collectedAmount": str(item["collectedAmount"]),
            "collectedCurrency": "TZS",
            "message": item.get("message") or "success",
            "channel": item["channel"],
            "updatedAt": now_iso(),
            "createdAt": item["createdAt"],
            "customer": {"customerName": "Juma Mussa", "customerEmail": "juma@example.com",
                         "customerPhoneNumber": item["paymentPhoneNumber"]},
        }  # fmt: skip
        event = "PAYMENT FAILED" if word == "FAILED" else "PAYMENT RECEIVED"
        envelope: dict[str, Any] = {"event": event, "data": data}
        if old_spelling:
            data["paymentId"] = data.pop("id")
            data["amount"], data["currency"] = (
                data.pop("collectedAmount"),
                data.pop("collectedCurrency"),
            )
            data["customer"] = {"name": "Juma Mussa", "phone": item["paymentPhoneNumber"]}
            envelope = {"eventType": event, "data": data}
        key = self.checksum_key if key is None else key
        headers = {"Content-Type": "application/json"}
        if key:
            mac = canonical_checksum(envelope, key)
            if where == "body":
                envelope |= {"checksum": mac, "checksumMethod": "canonical"}
            else:
                headers["X-ClickPesa-Signature"] = mac
        return envelope, headers

    async def post(
        self, http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]
    ) -> int:
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
        """POST the webhook for reference to our callback URL; the HTTP status. Forged: the
        checksum made with a key that is not the account's."""
        if forged:
            kw["key"] = "forged-" + (self.checksum_key or "key")
        body, headers = self.callback(reference, **kw)
        return await self.post(http, url, body, headers)

    # -- HTTP ----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        moment = time.monotonic()
        while self._window and self._window[0] <= moment - 60:
            self._window.popleft()
        if len(self._window) >= self.per_minute:
            self.limited += 1
            return web.json_response({"message": "Too many requests"}, status=429,
                                     headers={"Retry-After": str(RETRY_AFTER)})  # fmt: skip
        self._window.append(moment)
        mode = self._failure_for(request.path)
        if mode == "500":
            return _message("Error validating fee, try again later", 500)
        if mode == "429":
            return web.json_response({"message": "Too many requests"}, status=429,
                                     headers={"Retry-After": str(RETRY_AFTER)})  # fmt: skip
        if request.path != PATHS["token"] and not self._authorized(request):
            return _message("Unauthorized", 401)
        if request.method == "POST" and request.path != PATHS["token"]:
            refused = await self._checksum_problem(request)
            if refused is not None:
                return refused
        response = await handler(request)
        if mode == "timeout":
            await asyncio.sleep(self.slow_seconds)  # the work is done; the answer comes late
        return response

    def _failure_for(self, path: str) -> FailMode | None:
        if self._failures:
            mode, where = self._failures[0]
            if path == where or (where == PATHS["status"] and path.startswith(where)
                                 and path not in PATHS.values()):  # fmt: skip
                self._failures.popleft()
                return mode
        return None

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        until = self.tokens.get(given)
        return until is not None and time.monotonic() < until

    async def _checksum_problem(self, request: web.Request) -> web.Response | None:
        try:
            body = await request.json()
        except ValueError:
            return _message("Invalid JSON body", 400)
        self.bodies.append((request.path, body))
        if not self.checksum_key:
            return None
        given = body.get("checksum") if isinstance(body, dict) else None
        if not isinstance(given, str) or not hmac.compare_digest(
            given, canonical_checksum(body, self.checksum_key)
        ):
            return _message("Invalid checksum", 400)
        return None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if (request.headers.get("client-id"), request.headers.get("api-key")) != (
            self.client_id,
            self.api_key,
        ):
            return _message("Unauthorized", 401)
        token = f"Bearer eyJhbGciOiJIUzI1NiJ9.{secrets.token_urlsafe(24)}"
        self.tokens[token] = time.monotonic() + self.token_life
        return web.json_response({"success": True, "token": token})

    async def _preview(self, request: web.Request) -> web.Response:
        body = self.bodies[-1][1]
        problem = _push_problem(body, phone_required=False)
        if problem:
            return _message(problem, 400)
        state = "AVAILABLE" if self.networks_up else "UNAVAILABLE"
        methods = [
            {"name": name, "status": state, "fee": 0} for name in sorted(set(NETWORKS.values()))
        ]
        return web.json_response({"activeMethods": methods})

    async def _initiate(self, request: web.Request) -> web.Response:
        body = self.bodies[-1][1]
        problem = _push_problem(body, phone_required=True)
        if problem:
            return _message(problem, 400)
        reference = body["orderReference"]
        if reference in self.payments:
            return _message(
                f"Order reference {reference} already used: Create a different reference", 409
            )
        phone, created = body["phoneNumber"], now_iso()
        item = {
            "id": f"{reference}LCP{secrets.token_hex(2).upper()}",
            "status": "PROCESSING",
            "paymentReference": None,
            "paymentPhoneNumber": phone,
            "orderReference": reference,
            "collectedAmount": int(body["amount"]),
            "collectedCurrency": "TZS",
            "message": "Processing",
            "channel": NETWORKS.get(phone[3:5], "M-PESA"),
            "updatedAt": created,
            "createdAt": created,
            "clientId": self.client_id,
        }
        self.payments[reference] = item
        self._created[reference] += 1
        answer = {
            k: item[k]
            for k in ("id", "status", "channel", "orderReference", "createdAt", "clientId")
        }
        answer |= {"collectedAmount": body["amount"], "collectedCurrency": "TZS"}
        return web.json_response(answer)

    async def _status(self, request: web.Request) -> web.Response:
        reference = request.match_info["reference"]
        item = self.payments.get(self.confused.get(reference, reference))
        if item is None:
            return _message("Payment not found", 404)
        phone = item["paymentPhoneNumber"]
        customer = {"customerName": "Juma Mussa", "customerPhoneNumber": phone}
        return web.json_response([{**item, "customer": customer}])


def _push_problem(body: Any, *, phone_required: bool) -> str | None:
    """ClickPesa's 400s for the preview and initiate bodies."""
    if not isinstance(body, dict):
        return "Invalid request body"
    amount = body.get("amount")
    if not isinstance(amount, str) or not AMOUNT_RE.match(amount):
        return "amount must be a string of whole shillings"
    if body.get("currency") != "TZS":
        return "currency must be TZS"
    reference = body.get("orderReference")
    if not isinstance(reference, str) or not REFERENCE_RE.match(reference):
        return (
            "Invalid Order Reference, should only contain alphanumeric characters "
            "and cannot be blank"
        )
    phone = body.get("phoneNumber")
    if (phone is not None or phone_required) and (
        not isinstance(phone, str) or not PHONE_RE.match(phone)
    ):
        return "Invalid / unsupported phone number"
    return None
