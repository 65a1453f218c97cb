"""A fake Stripe API over real HTTP, spoken to by the real `stripe` SDK.

It enforces what Stripe would: the bearer secret key (401 in Stripe's error shape), form-encoded
bodies with nested keys, `mode=payment`, line items with integer amounts, `expires_at` from 30
minutes to 24 hours ahead, Stripe's minimum charge, and Idempotency-Key (the same key with the
same body answers the first session again; with another body, 400 idempotency_error). Webhooks
are signed with the SDK's own helper (stripe.WebhookSignature), so the adapter is tested
against the SDK's wire format on both sides.

Refunds (`POST /v1/refunds`): the bearer key, an existing payment intent that was paid, an
amount at most what is charged minus refunded, and Idempotency-Key (the same key answers the
first refund's first answer again, as Stripe does; another body with it is 400
idempotency_error), and `GET /v1/refunds/{id}` for a refund's status now.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from typing import Any

import aiohttp
import stripe
from aiohttp import web

from payments.gateways.stripe.amounts import to_stripe

SMALLEST_USD_CENTS = 50
_KEY = re.compile(r"\[([^\]]*)\]")


def nested(form: dict[str, str]) -> dict[str, Any]:
    """`line_items[0][price_data][currency]=idr` as {"line_items": [{"price_data": {...}}]}."""
    root: dict[str, Any] = {}
    for flat, value in form.items():
        head = flat.split("[", 1)[0]
        keys = [head, *_KEY.findall(flat)]
        node: Any = root
        for key, following in itertools.pairwise(keys):
            child = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(key)
                while len(node) <= index:
                    node.append(child)
                node = node[index]
            else:
                node = node.setdefault(key, child)
        last = keys[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return root


def error(status: int, kind: str, message: str, **extra: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message, **extra}}, status=status)


class FakeStripe:
    def __init__(self, secret_key: str, webhook_secret: str, slow_seconds: float = 3.0) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.slow_seconds = slow_seconds
        self.sessions: dict[str, dict[str, Any]] = {}
        self.by_reference: dict[str, str] = {}
        self.creates: dict[str, int] = {}
        self.retrievals = 0
        self._answers_for: dict[str, str] = {}  # session id -> answer with this session
        self._keys: dict[str, tuple[str, dict[str, Any]]] = {}  # idempotency key -> body, session
        self._failures: list[str] = []
        self.intents: dict[str, dict[str, Any]] = {}  # payment intent id -> intent
        self.refunds: dict[str, dict[str, Any]] = {}  # refund id -> refund
        self.refund_status = "succeeded"  # what the next refunds come back as
        self._first: dict[str, dict[str, Any]] = {}  # refund id -> its first answer
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self.url = ""
        self.app = web.Application()
        self.app.router.add_post("/v1/checkout/sessions", self._create)
        self.app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve)
        self.app.router.add_post("/v1/checkout/sessions/{id}/expire", self._expire)
        self.app.router.add_post("/v1/refunds", self._refund)
        self.app.router.add_get("/v1/refunds/{id}", self._refund_now)

    # ---- steering -------------------------------------------------------------------------------

    def session_for(self, reference: str) -> dict[str, Any]:
        return self.sessions[self.by_reference[reference]]

    def pay(self, reference: str) -> None:
        session = self.session_for(reference)
        session.update(status="complete", payment_status="paid", url=None)
        intent_id = f"pi_fake{next(self._ids):06d}"
        self.intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "status": "succeeded",
            "amount": session["amount_total"],
            "amount_refunded": 0,
            "currency": session["currency"],
        }
        session["payment_intent"] = intent_id

    def intent_for(self, reference: str) -> dict[str, Any]:
        return self.intents[self.session_for(reference)["payment_intent"]]

    def set_status(self, reference: str, status: tuple[str, str]) -> None:
        session = self.session_for(reference)
        session["status"], session["payment_status"] = status

    def set_amount(self, reference: str, amount: int) -> None:
        session = self.session_for(reference)
        session["amount_total"] = to_stripe(amount, session["currency"])

    def confuse(self, ours: str, theirs: str) -> None:
        self._answers_for[self.by_reference[ours]] = self.by_reference[theirs]

    def fail_next(self, failure: str) -> None:
        self._failures.append(failure)

    def created(self, reference: str) -> int:
        return self.creates.get(reference, 0)

    def event(self, reference: str, kind: str = "") -> bytes:
        session = self.session_for(reference)
        if not kind:
            done = session["status"] == "complete"
            kind = "checkout.session.completed" if done else "checkout.session.expired"
        body = {
            "id": f"evt_fake_{next(self._events)}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": dict(session)},
        }
        return json.dumps(body).encode()

    def signed(self, body: bytes, *, forged: bool = False, at: int | None = None) -> str:
        secret = "whsec_not_the_right_one" if forged else self.webhook_secret
        stamp = int(time.time()) if at is None else at
        return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, stamp)

    async def send(
        self, http: aiohttp.ClientSession, url: str, reference: str, forged: bool = False
    ) -> int:
        body = self.event(reference)
        return await self.post(http, url, body, self.signed(body, forged=forged))

    async def post(
        self, http: aiohttp.ClientSession, url: str, body: bytes, signature: str
    ) -> int:
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        async with http.post(url, data=body, headers=headers) as response:
            return response.status

    # ---- the API ---------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization", "") != f"Bearer {self.secret_key}":
            return error(401, "invalid_request_error", "Invalid API Key provided")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if request.content_type != "application/x-www-form-urlencoded":
            return error(400, "invalid_request_error", "Stripe takes form-encoded bodies")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        failure = self._failures.pop(0) if self._failures else ""
        if failure == "429":
            return error(429, "rate_limit_error", "Too many requests", code="rate_limit")
        if failure == "500":
            return error(500, "api_error", "Something went wrong on Stripe's end")
        key = request.headers.get("Idempotency-Key", "")
        if key in self._keys:
            first, session_id = self._keys[key]
            if first != json.dumps(form, sort_keys=True):
                return error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only "
                    "be used with the same parameters they were first used with.",
                )
            return web.json_response(self.sessions[session_id])
        problem = self._invalid(nested(form))
        if problem is not None:
            return problem
        session = self._new_session(nested(form))
        if key:
            self._keys[key] = (json.dumps(form, sort_keys=True), session["id"])
        if failure == "timeout":
            await asyncio.sleep(self.slow_seconds)  # made, but the answer comes too late
        return web.json_response(session)

    def _invalid(self, params: dict[str, Any]) -> web.Response | None:
        if params.get("mode") != "payment":
            return error(
                400, "invalid_request_error", "Missing required param: mode.", param="mode"
            )
        if not params.get("success_url"):
            return error(400, "invalid_request_error", "Missing success_url", param="success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            return error(400, "invalid_request_error", "line_items required", param="line_items")
        for item in items:
            price = item.get("price_data", {})
            if not str(price.get("unit_amount", "")).isdigit() or not price.get("currency"):
                return error(400, "invalid_request_error", "Invalid integer", param="unit_amount")
        now = time.time()
        expires = int(params.get("expires_at", now + 86400))
        if not now + 1800 - 5 <= expires <= now + 86400 + 5:
            return error(
                400,
                "invalid_request_error",
                "expires_at must be 30m to 24h ahead",
                param="expires_at",
            )
        total = _total(items)
        if items[0]["price_data"]["currency"] == "usd" and total < SMALLEST_USD_CENTS:
            return error(
                400,
                "invalid_request_error",
                "Amount must be at least $0.50 usd",
                code="amount_too_small",
            )
        return None

    def _new_session(self, params: dict[str, Any]) -> dict[str, Any]:
        session_id = f"cs_test_fake{next(self._ids):06d}"
        reference = params.get("client_reference_id")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{self.url}/pay/{session_id}",
            "amount_total": _total(params["line_items"]),
            "currency": params["line_items"][0]["price_data"]["currency"],
            "client_reference_id": reference,
            "metadata": params.get("metadata", {}),
            "expires_at": int(params.get("expires_at", time.time() + 86400)),
            "payment_intent": None,
            "livemode": False,
        }
        self.sessions[session_id] = session
        if reference:
            self.by_reference[reference] = session_id
            self.creates[reference] = self.creates.get(reference, 0) + 1
        return session

    async def _retrieve(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        self.retrievals += 1
        session_id = request.match_info["id"]
        answer = self._answers_for.get(session_id, session_id)
        if answer not in self.sessions:
            return error(
                404,
                "invalid_request_error",
                f"No such checkout.session: '{session_id}'",
                code="resource_missing",
            )
        return web.json_response(self.sessions[answer])

    async def _expire(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return error(
                404, "invalid_request_error", "No such checkout.session", code="resource_missing"
            )
        if session["status"] != "open":
            return error(
                400,
                "invalid_request_error",
                'Only Checkout Sessions with a status in ["open"] can be expired.',
            )
        session.update(status="expired", url=None)
        return web.json_response(session)

    async def _refund(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if request.content_type != "application/x-www-form-urlencoded":
            return error(400, "invalid_request_error", "Stripe takes form-encoded bodies")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        failure = self._failures.pop(0) if self._failures else ""
        if failure == "500":
            return error(500, "api_error", "Something went wrong on Stripe's end")
        key = request.headers.get("Idempotency-Key", "")
        if key and key in self._keys:
            first, refund_id = self._keys[key]
            if first != json.dumps(form, sort_keys=True):
                return error(400, "idempotency_error", "Keys ... same parameters")
            return web.json_response(self._first[refund_id])  # Stripe replays the first answer
        params = nested(form)
        intent = self.intents.get(str(params.get("payment_intent", "")))
        if intent is None:
            return error(
                400, "invalid_request_error", "No such payment_intent", code="resource_missing"
            )
        if intent["status"] != "succeeded":
            return error(400, "invalid_request_error", "This PaymentIntent is not paid")
        left = intent["amount"] - intent["amount_refunded"]
        raw = str(params.get("amount", left))
        if not raw.isdigit() or int(raw) < 1:
            return error(400, "invalid_request_error", "Invalid integer", param="amount")
        amount = int(raw)
        if amount > left:
            return error(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount ({left})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = f"re_fake{next(self._ids):06d}"
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": self.refund_status,
            "failure_reason": "declined" if self.refund_status == "failed" else None,
            "metadata": params.get("metadata", {}),
        }
        if self.refund_status in ("succeeded", "pending", "requires_action"):
            intent["amount_refunded"] += amount
        self.refunds[refund_id] = refund
        self._first[refund_id] = dict(refund)
        if key:
            self._keys[key] = (json.dumps(form, sort_keys=True), refund_id)
        if failure == "timeout":
            await asyncio.sleep(self.slow_seconds)  # refunded, but the answer comes too late
        return web.json_response(refund)

    async def _refund_now(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return error(404, "invalid_request_error", "No such refund", code="resource_missing")
        return web.json_response(refund)


def _total(items: list[dict[str, Any]]) -> int:
    return sum(
        int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1)) for item in items
    )
