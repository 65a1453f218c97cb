"""The sandbox provider: a simulated payment gateway that our own aiohttp server serves.

It lets `checkout-bot demo` and the tests run a whole checkout without accounts, and it misbehaves
on request (late, lost and duplicated callbacks) the way real gateways do. It is a single-process
simulator: payments live in this object's memory, so run one instance and expect them gone after
a restart. adapter.py (next to this file) talks to it over HTTP like to any other gateway;
this module is its API reference. Expiry is noticed when a payment is next touched (read,
settled, shown).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import aiohttp
from aiohttp import web

from payments.gateways.sandbox.page import page_routes
from payments.gateways.sandbox.records import (
    CANCELLED,
    EXPIRED,
    FAILED,
    PAID,
    PENDING,
    REFUNDED,
    SandboxPayment,
    SandboxRefund,
    SentCallback,
)
from payments.qris import build_qris

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Sandbox-Signature"
# Made-up prefixes shaped like the banks' own; a VA number is the prefix plus reference digits.
VA_PREFIXES: Final[Mapping[str, str]] = {
    "bca": "88608", "bni": "98829", "bri": "26215", "mandiri": "89508",
    "permata": "8625", "cimb": "5919", "bsi": "9347",
}  # fmt: skip
VA_LENGTH: Final = 16
METHODS: Final = frozenset({"qris", "link", "ussd", *(f"va:{bank}" for bank in VA_PREFIXES)})
# What pay, fail and cancel do to a pending payment: the new status and the reason given.
_ENDINGS: Final[Mapping[str, tuple[str, str | None]]] = {
    "fail": (FAILED, "declined in the sandbox"),
    "cancel": (CANCELLED, None),
}
_REFERENCE_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CALLBACK_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)
_T = TypeVar("_T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxProvider:
    """The simulated provider: a JSON API, a pay page for humans, and signed callbacks."""

    def __init__(
        self,
        *,
        secret: str,
        http: aiohttp.ClientSession | None,
        auto_pay_after: float | None = None,
        callback_delay: float = 0.0,
        drop_share: float = 0.0,
        duplicate_share: float = 0.0,
        seed: int | None = None,
        merchant_name: str = "Checkout Bot Demo",
        clock: Callable[[], datetime] = _utc_now,
        public_url: str | None = None,
        callback_retry_delay: float = 1.0,
    ) -> None:
        self._secret = secret.encode()
        self.http = http  # may be attached after construction, once a loop runs
        self._auto_pay_after = auto_pay_after
        self._callback_delay = callback_delay
        self._drop_share = drop_share
        self._duplicate_share = duplicate_share
        self._random = random.Random(seed)  # only the knobs draw from it: reproducible runs
        self._merchant_name = merchant_name
        self._clock = clock
        self._public_url = public_url.rstrip("/") if public_url else None
        self._retry_delay = callback_retry_delay
        self._prefix = "/sandbox"
        self._tasks: set[asyncio.Task[None]] = set()
        self.payments: dict[str, SandboxPayment] = {}
        self.sent_callbacks: list[SentCallback] = []

    def add_routes(self, app: web.Application, prefix: str = "/sandbox") -> None:
        """Serve the provider under prefix (one prefix per provider: its links point there)."""
        self._prefix = prefix = prefix.rstrip("/")
        api = f"{prefix}/api/payments"
        app.add_routes([
            web.post(api, self._guarded(self._create)),
            web.get(api + "/{reference}", self._guarded(self._act)),
            web.post(api + "/{reference}/{action:pay|fail|cancel}", self._guarded(self._act)),
            web.post(api + "/{reference}/refunds", self._guarded(self._refund)),
            *page_routes(self, prefix),
        ])  # fmt: skip

    def find(self, reference: str) -> SandboxPayment | None:
        """The payment as of now: one past its expiry reads EXPIRED from here on."""
        payment = self.payments.get(reference)
        if payment and payment.status == PENDING and self._clock() >= payment.expires_at:
            self._change(payment, EXPIRED)
        return payment

    def act(self, payment: SandboxPayment, action: str) -> None:
        """Settle by hand. Pay works from any status but PAID, to simulate money arriving late;
        fail and cancel act on a pending payment only and otherwise change nothing."""
        if action == "pay" and payment.status != PAID:
            self._change(payment, PAID)
        elif action in _ENDINGS and payment.status == PENDING:
            self._change(payment, *_ENDINGS[action])

    def set_status(self, reference: str, status: str) -> None:
        """Steer a payment to any status word, known or not (tests of unmapped statuses)."""
        self._change(self.payments[reference], status)

    async def flush(self) -> None:
        """Wait until every callback and auto-pay scheduled so far has run its course."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel pending auto-pays and callbacks; the owner calls this on shutdown."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, b"Bearer " + self._secret):
                raise _error(web.HTTPUnauthorized, "unauthorized", "bad or missing bearer token")
            return await handler(request)

        return guarded

    async def _create(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        reference = data.get("reference")
        existing = self.find(reference) if isinstance(reference, str) else None
        if existing is not None:  # idempotent: a retry gets the same payment, never a second
            if data.get("amount") != existing.amount:
                raise _error(web.HTTPConflict, "amount_mismatch", "reference has another amount")
            return web.json_response(existing.to_json())
        try:
            payment = self._new_payment(data, self._public_url or str(request.url.origin()))
        except ValueError as exc:
            raise _error(web.HTTPUnprocessableEntity, "invalid_request", str(exc)) from None
        self.payments[payment.reference] = payment
        log.info("sandbox: payment=%s created, method %s", payment.reference, payment.method)
        if self._auto_pay_after is not None:
            self._spawn(self._auto_pay(payment.reference, self._auto_pay_after))
        return web.json_response(payment.to_json(), status=201)

    async def _act(self, request: web.Request) -> web.Response:
        """Read a payment, or pay, fail or cancel it; answers with the payment either way."""
        payment = self.find(request.match_info["reference"])
        if payment is None:
            raise _error(web.HTTPNotFound, "not_found", "no payment with this reference")
        self.act(payment, request.match_info.get("action", "show"))
        return web.json_response(payment.to_json())

    async def _refund(self, request: web.Request) -> web.Response:
        """Give back some or all of a paid payment: once per refund reference; the last part
        moves the payment to REFUNDED (and sends that callback)."""
        payment = self.find(request.match_info["reference"])
        if payment is None:
            raise _error(web.HTTPNotFound, "not_found", "no payment with this reference")
        data = await _json_object(request)
        try:
            reference, amount = _field(data, "reference", str), _field(data, "amount", int)
        except ValueError as exc:
            raise _error(web.HTTPUnprocessableEntity, "invalid_request", str(exc)) from None
        if (done := payment.refunds.get(reference)) is not None:
            return web.json_response(done.to_json() | {"payment": payment.to_json()})
        if payment.status != PAID:
            raise _error(web.HTTPConflict, "not_paid", f"the payment is {payment.status}")
        if not 0 < amount <= payment.amount - payment.refunded:
            raise _error(web.HTTPUnprocessableEntity, "too_much", "more than is left to refund")
        refund = SandboxRefund(f"sbr_{secrets.token_hex(8)}", reference, amount)
        payment.refunds[reference] = refund
        log.info("sandbox: payment=%s refunded %s", payment.reference, amount)
        if payment.refunded == payment.amount:
            self._change(payment, REFUNDED)
        return web.json_response(refund.to_json() | {"payment": payment.to_json()}, status=201)

    def _new_payment(self, data: Mapping[str, Any], base: str) -> SandboxPayment:
        reference = _field(data, "reference", str)
        if not _REFERENCE_RE.match(reference):
            raise ValueError("reference must be 1..64 letters, digits, '_' or '-'")
        amount, method = _field(data, "amount", int), _field(data, "method", str)
        if amount <= 0 or method not in METHODS:
            raise ValueError(f"amount must be positive and method one of {sorted(METHODS)}")
        expires_at = datetime.fromisoformat(_field(data, "expires_at", str))
        if expires_at.tzinfo is None or expires_at <= self._clock():
            raise ValueError("expires_at must be an aware time in the future")
        payment = SandboxPayment(
            id=f"sbx_{secrets.token_hex(8)}",  # random: ids stay unique across restarts
            reference=reference, amount=amount, currency=_field(data, "currency", str).upper(),
            method=method, expires_at=expires_at, created_at=self._clock(),
            callback_url=_field(data, "callback_url", str), return_url=data.get("return_url"),
        )  # fmt: skip
        payment.instructions = self._instructions(payment, data, f"{base}{self._prefix}")
        return payment

    def _instructions(
        self, payment: SandboxPayment, data: Mapping[str, Any], base: str
    ) -> dict[str, str]:
        kind, _, bank = payment.method.partition(":")
        urls = {"pay_url": f"{base}/pay/{payment.reference}"}
        if kind == "va":
            return {"bank": bank, "va_number": va_number(bank, payment.reference), **urls}
        if kind == "ussd":
            return {"phone": _field(data, "phone", str), **urls}
        if kind == "link":
            return urls
        if payment.currency != "IDR":
            raise ValueError("QRIS takes IDR only")
        qr = build_qris(merchant_name=self._merchant_name, city="Jakarta",
                        amount=payment.amount, reference=payment.reference)  # fmt: skip
        return {"qr_string": qr, "qr_image_url": f"{base}/qr/{payment.reference}.png", **urls}

    async def _auto_pay(self, reference: str, after: float) -> None:
        await asyncio.sleep(after)
        payment = self.find(reference)
        if payment is not None and payment.status == PENDING:
            self._change(payment, PAID)

    def _change(self, payment: SandboxPayment, status: str, reason: str | None = None) -> None:
        """Every status change passes here, so that every one of them sends a callback."""
        log.info("sandbox: payment=%s %s -> %s", payment.reference, payment.status, status)
        payment.status, payment.failure_reason = status, reason
        if status == PAID:
            payment.paid_at = self._clock()
        body = json.dumps(payment.callback_json(), separators=(",", ":")).encode()
        if self._random.random() < self._drop_share:
            log.info("sandbox: payment=%s dropping the %s callback", payment.reference, status)
            return
        copies = 2 if self._random.random() < self._duplicate_share else 1
        self._spawn(self._deliver(payment.callback_url, body, copies))

    async def _deliver(self, url: str, body: bytes, copies: int) -> None:
        await asyncio.sleep(self._callback_delay)
        for _ in range(copies):
            if not await self._post(url, body):
                await asyncio.sleep(self._retry_delay)  # one retry, then give up: a simulator
                if not await self._post(url, body):
                    log.warning("sandbox: callback to %s failed twice, giving up", url)

    async def _post(self, url: str, body: bytes) -> bool:
        signature = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        status: int | None = None
        try:
            assert self.http is not None, "SandboxProvider.http is not attached"
            async with self.http.post(
                url, data=body, headers=headers, timeout=_CALLBACK_TIMEOUT
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("sandbox: callback to %s failed: %s", url, type(exc).__name__)
        self.sent_callbacks.append(SentCallback(url, body, signature, status))
        if status is not None and not 200 <= status < 300:
            log.warning("sandbox: callback to %s answered HTTP %s", url, status)
        return status is not None and 200 <= status < 300

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox: background task failed", exc_info=task.exception())


def va_number(bank: str, reference: str) -> str:
    """Same reference, same number: the bank's prefix plus digits hashed from the reference."""
    prefix = VA_PREFIXES[bank]
    digest = int.from_bytes(hashlib.sha256(reference.encode()).digest()[:8], "big")
    width = VA_LENGTH - len(prefix)
    return prefix + str(digest % 10**width).zfill(width)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _error(web.HTTPBadRequest, "bad_json", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _error(web.HTTPBadRequest, "bad_json", "the body is not a JSON object")
    return data


def _field(data: Mapping[str, Any], name: str, kind: type[_T]) -> _T:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise ValueError(f"{name} is missing or not a {kind.__name__}")
    return value


def _error(cls: type[web.HTTPError], code: str, message: str) -> web.HTTPError:
    body = json.dumps({"error": {"code": code, "message": message}})
    return cls(text=body, content_type="application/json")
