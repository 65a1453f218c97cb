"""Xendit: invoices (hosted link) and payment requests (VA, QRIS). Docs: https://docs.xendit.co

The callback token is a static shared secret that binds nothing in the body, so every callback
is only a claim: the callback route confirms a PAID with fetch_status before applying it
(confirm_paid_by_query). Xendit does not retry a callback that timed out (30 s): answer fast.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final
from urllib.parse import quote

import aiohttp

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    MethodKind,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
)
from payments.gateways.http import retry_after
from payments.gateways.parsing import json_object, text_field, utf8
from payments.gateways.xendit import wire

log = logging.getLogger(__name__)
S = PaymentStatus

# Every status the Invoice API (PENDING, PAID, SETTLED, EXPIRED) and the Payment Requests API
# document; the two share PENDING. Unknown values read as PENDING (to_status).
STATUS_MAP: Final[Mapping[str, PaymentStatus]] = {
    "PENDING": S.PENDING,
    "PAID": S.PAID,
    "SETTLED": S.PAID,
    "EXPIRED": S.EXPIRED,
    "REQUIRES_ACTION": S.PENDING,
    "AWAITING_CAPTURE": S.PROCESSING,
    "SUCCEEDED": S.PAID,
    "FAILED": S.FAILED,
    "CANCELED": S.CANCELLED,
    "VOIDED": S.CANCELLED,
    "UNKNOWN": S.PENDING,
}
# Payment webhooks name their outcome in `event`, in case `data.status` is absent.
EVENTS: Final[Mapping[str, str]] = {
    "payment.succeeded": "SUCCEEDED",
    "payment.failed": "FAILED",
    "payment.awaiting_capture": "AWAITING_CAPTURE",
}
# A fixed-VA "paid" callback carries no status: each one is one payment (a claim, confirmed).
VA_PAID: Final = "VA_PAYMENT"
TOKEN_HEADER: Final = "x-callback-token"
Unreadable = type[CallbackUnreadable] | type[GatewayUnavailable]


def to_status(raw: str) -> PaymentStatus:
    """Xendit's status word in our words; unknown reads as PENDING."""
    status = STATUS_MAP.get(raw)
    if status is None:
        log.warning("xendit: unmapped status %r, treating as pending", raw[:40])
        return S.PENDING
    return status


class XenditGateway:
    """One Xendit account: Basic auth with the secret key, a static callback token."""

    name: ClassVar[str] = "xendit"
    confirm_paid_by_query: ClassVar[bool] = True  # the token is static and covers nothing

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        secret_key: str,
        callback_token: str,
        timeout: float = 10.0,
    ) -> None:
        self._http, self._base = http, base_url.rstrip("/")
        self._key, self._token = secret_key, utf8(callback_token)
        self._auth = "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:  # the default one would show the key in tracebacks
        return f"XenditGateway(base_url={self._base!r})"

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name and method.local in wire.METHODS

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """One payment per reference: payment requests by idempotency key, invoices by a look
        for our reference first (the Invoice API honours no key, UNCONFIRMED)."""
        self._check(checkout)
        if checkout.method.kind is not MethodKind.LINK:
            body = wire.payment_request_body(checkout)
            headers = {"idempotency-key": checkout.reference}
            _, data = await self._request("POST", "/payment_requests", body, headers)
            return self._payment_request(data)
        ref = PaymentRef(checkout.reference, None, checkout.method)
        existing = await self.fetch_status(ref)
        if existing.raw_status is None:
            body = wire.invoice_body(checkout, datetime.now(UTC))
            _, data = await self._request("POST", "/v2/invoices", body)
            return self._invoice(data)
        if existing.amount != checkout.amount:
            raise GatewayRejected(self.name, f"order={checkout.reference} used by another invoice")
        return existing

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """By Xendit's id when we have it; else by our reference (none yet reads as pending)."""
        link = ref.method.kind is MethodKind.LINK
        if ref.external_id:
            item = quote(ref.external_id, safe="")
            path = f"/v2/invoices/{item}" if link else f"/payment_requests/{item}"
            _, data = await self._request("GET", path)
            return self._invoice(data) if link else self._payment_request(data)
        key = quote(ref.reference, safe="")
        by_ref = "/v2/invoices?external_id=" if link else "/payment_requests?reference_id="
        _, found = await self._request("GET", by_ref + key)
        items = found if isinstance(found, list) else found.get("data")
        items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        if not items:
            return PaymentResult(ref.reference, None, S.PENDING)
        return self._invoice(items[0]) if link else self._payment_request(items[0])

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """Expire the invoice, or the payment request's one-time VA/QR (UNCONFIRMED for the
        latter: we expire its payment method). Where Xendit refuses, report the current state."""
        current = await self.fetch_status(ref)
        if current.status.is_final or current.external_id is None:
            return current
        if ref.method.kind is MethodKind.LINK:
            path = f"/invoices/{quote(current.external_id, safe='')}/expire!"
        else:
            method = current.raw.get("payment_method")
            pm_id = text_field(method.get("id")) if isinstance(method, dict) else None
            if pm_id is None:
                return current
            path = f"/v2/payment_methods/{quote(pm_id, safe='')}/expire"
        await self._request("POST", path, accept=frozenset({400, 404}))
        return await self.fetch_status(PaymentRef(ref.reference, current.external_id, ref.method))

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """Check the token in constant time, then read whichever of the three shapes it is."""
        given = _header(headers, TOKEN_HEADER)
        if not hmac.compare_digest(utf8(given), self._token):
            raise CallbackRejected(self.name, "x-callback-token mismatch")
        try:
            data = json_object(body, parse_float=Decimal)  # money never passes through float
        except ValueError:
            raise CallbackUnreadable(self.name, "body is not a JSON object") from None
        if isinstance(data.get("data"), dict) and isinstance(data.get("event"), str):
            return self._payment_event(data)
        if "callback_virtual_account_id" in data and "payment_id" in data:
            return self._va_payment(data)
        if "external_id" in data and "status" in data:
            return self._invoice(data, CallbackUnreadable)
        raise CallbackUnreadable(self.name, "not an invoice, payment or VA payment callback")

    def _check(self, checkout: Checkout) -> None:
        """Refuse what we cannot ask Xendit for before asking: a bug on our side."""
        if not self.supports(checkout.method) or checkout.currency != "IDR" or checkout.amount < 1:
            detail = f"cannot take {checkout.amount} {checkout.currency} by {checkout.method}"
            raise GatewayRejected(self.name, f"{detail}: whole IDR, {sorted(wire.METHODS)} only")

    def _invoice(
        self, data: Mapping[str, Any], unreadable: Unreadable = GatewayUnavailable
    ) -> PaymentResult:
        raw = _status_word(data, unreadable)
        paid = data.get("paid_amount")  # what arrived, where the invoice says
        return PaymentResult(
            reference=text_field(data.get("external_id")),
            external_id=text_field(data.get("id")),
            status=to_status(raw),
            amount=_amount(paid if paid is not None else data.get("amount"), unreadable),
            currency=text_field(data.get("currency")) or "IDR",
            instructions=wire.invoice_instructions(data),
            expires_at=wire.parse_iso(data.get("expiry_date")),
            raw_status=raw,
            raw=data,
        )

    def _payment_request(
        self, data: Mapping[str, Any], unreadable: Unreadable = GatewayUnavailable
    ) -> PaymentResult:
        raw = _status_word(data, unreadable)
        return PaymentResult(
            reference=text_field(data.get("reference_id")),
            external_id=text_field(data.get("id")),
            status=to_status(raw),
            amount=_amount(data.get("amount"), unreadable),
            currency=text_field(data.get("currency")) or "IDR",
            instructions=wire.request_instructions(data),
            expires_at=wire.request_expiry(data),
            reason=text_field(data.get("failure_code"), blank_is_none=True),
            raw_status=raw,
            raw=data,
        )

    def _payment_event(self, envelope: Mapping[str, Any]) -> PaymentResult:
        """payment.succeeded and kin: the payment inside names its payment request, our id."""
        data: Mapping[str, Any] = envelope["data"]
        if "status" not in data and str(envelope["event"]) in EVENTS:
            data = {**data, "status": EVENTS[str(envelope["event"])]}
        result = self._payment_request(data, CallbackUnreadable)
        pr_id = text_field(data.get("payment_request_id"))
        return replace(result, external_id=pr_id, instructions=None)

    def _va_payment(self, data: Mapping[str, Any]) -> PaymentResult:
        """A fixed-VA payment: our reference in external_id, its `id` is the VA's, not ours."""
        return PaymentResult(
            reference=text_field(data.get("external_id")),
            external_id=None,
            status=S.PAID,
            amount=_amount(data.get("amount"), CallbackUnreadable),
            currency=text_field(data.get("currency")) or "IDR",
            raw_status=VA_PAID,
            raw=data,
        )

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[int, Any]:
        """One call. Transport trouble and error codes become our errors; never the key."""
        what = f"{method} {path.split('?')[0]}"
        sent = {"Authorization": self._auth, "Accept": "application/json", **(headers or {})}
        try:
            async with self._http.request(
                method,
                self._base + path,
                json=body,
                headers=sent,
                timeout=self._timeout,
                raise_for_status=False,
            ) as resp:
                raw, code = await resp.read(), resp.status
                retry = resp.headers.get("Retry-After", "")
        except (TimeoutError, aiohttp.ClientError) as exc:  # not chained: aiohttp keeps headers
            raise GatewayUnavailable(self.name, f"{what}: {type(exc).__name__}") from None
        data = _json(raw)
        if code == 429 or code >= 500:
            raise GatewayUnavailable(self.name, f"{what}: {code}", retry_after(retry))
        if code in accept:
            return code, data if isinstance(data, dict) else {}
        if code >= 400:
            raise self._rejected(code, data if isinstance(data, dict) else {}, what)
        if not isinstance(data, dict | list):
            raise GatewayUnavailable(self.name, f"{what}: unreadable answer (HTTP {code})")
        return code, data

    def _rejected(self, code: int, data: Mapping[str, Any], what: str) -> GatewayRejected:
        text = f"{data.get('error_code', '')} {data.get('message', '')}"[:200]
        return GatewayRejected(self.name, f"{what}: {code} {text.replace(self._key, '***')}")


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive whatever the mapping: Xendit writes X-CALLBACK-TOKEN too."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), "")
    return value


def _status_word(data: Mapping[str, Any], unreadable: Unreadable) -> str:
    raw = data.get("status")
    if not isinstance(raw, str):
        raise unreadable(XenditGateway.name, "no status")
    return raw


def _amount(value: object, unreadable: Unreadable) -> int:
    amount = wire.rupiah(value)
    if amount is None:
        raise unreadable(XenditGateway.name, f"amount not whole rupiah: {value!r:.40}")
    return amount


def _json(raw: bytes) -> Any:
    """The answer as JSON (lists are answers too, from GET /v2/invoices); None if unreadable."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
