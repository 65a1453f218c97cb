"""Adapter for the built-in sandbox gateway, spoken to over HTTP like any other provider.

Docs: the provider is ours, payments/gateways/sandbox/server.py. JSON under
`<base_url>/api/payments`, `Authorization: Bearer <secret>`; callbacks carry
`X-Sandbox-Signature`, the hex HMAC-SHA256(secret, raw body). Amounts travel as given (IDR
has no minor units in practice). This file imports nothing from the provider on purpose: it
must work against it as a stranger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final
from urllib.parse import quote

import aiohttp

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    GatewayRejected,
    GatewayUnavailable,
    Instructions,
    MethodId,
    MethodKind,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
    RefundAsk,
    RefundResult,
    RefundStatus,
)
from payments.gateways.http import retry_after as retry_after_seconds
from payments.gateways.parsing import json_object, utf8

log = logging.getLogger(__name__)

# Every value the provider has. Unknown values read as PENDING.
STATUS_MAP: Final[Mapping[str, PaymentStatus]] = {
    "PENDING": PaymentStatus.PENDING,
    "PAID": PaymentStatus.PAID,
    "FAILED": PaymentStatus.FAILED,
    "EXPIRED": PaymentStatus.EXPIRED,
    "CANCELLED": PaymentStatus.CANCELLED,
    "REFUNDED": PaymentStatus.REFUNDED,
}
BANKS: Final = frozenset({"bca", "bni", "bri", "mandiri", "permata", "cimb", "bsi"})
SIGNATURE_HEADER: Final = "X-Sandbox-Signature"
OUTCOMES: Final = frozenset({"pay", "fail"})


def to_status(raw: str) -> PaymentStatus:
    status = STATUS_MAP.get(raw)
    if status is None:
        log.warning("sandbox: unmapped status %r, treating as pending", raw)
        return PaymentStatus.PENDING
    return status


class SandboxGateway:
    name: ClassVar[str] = "sandbox"
    # The HMAC covers the whole body, status word included: a verified callback is enough.
    confirm_paid_by_query: ClassVar[bool] = False

    def __init__(
        self, http: aiohttp.ClientSession, *, base_url: str, secret: str, timeout: float = 10.0
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._key = secret.encode()
        self._auth = {"Authorization": f"Bearer {secret}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def supports(self, method: MethodId) -> bool:
        if method.gateway != self.name:
            return False
        if method.kind is MethodKind.VA:
            return method.channel in BANKS
        return method.channel is None

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """Idempotent by reference: the provider answers a repeat with the first payment."""
        method = checkout.method
        if not self.supports(method):
            raise GatewayRejected(self.name, f"unsupported method {method}")
        payload: dict[str, Any] = {
            "reference": checkout.reference,
            "amount": checkout.amount,
            "currency": checkout.currency,
            "method": method.local,
            "expires_at": checkout.expires_at.astimezone(UTC).isoformat(),
            "callback_url": checkout.callback_url,
            "return_url": checkout.return_url,
        }
        if method.kind is MethodKind.USSD:
            if not checkout.customer.phone:
                raise GatewayRejected(
                    self.name, f"payment={checkout.reference}: a USSD push needs a phone number"
                )
            payload["phone"] = checkout.customer.phone
        return self._answer(await self._request("POST", "/api/payments", payload))

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        return self._answer(await self._request("GET", _path(ref.reference)))

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult:
        """A payment no longer pending comes back unchanged: read its status, it may be PAID."""
        return self._answer(await self._request("POST", _path(ref.reference, "cancel")))

    async def refund_payment(self, ref: PaymentRef, ask: RefundAsk) -> RefundResult:
        """Idempotent by ask.reference: the provider answers a repeat with the first refund."""
        body = {"reference": ask.reference, "amount": ask.amount}
        data = await self._request("POST", _path(ref.reference, "refunds"), body)
        refund_id = data.get("id")
        if data.get("status") != "DONE" or not isinstance(refund_id, str):
            raise GatewayUnavailable(self.name, f"refund={ask.reference}: unreadable answer")
        return RefundResult(RefundStatus.DONE, external_id=refund_id, raw=data)

    async def settle(self, reference: str, outcome: str) -> PaymentResult:
        """Play the customer: "pay" or "fail" (`checkout-bot sandbox pay|fail REFERENCE`)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}: {outcome!r}")
        return self._answer(await self._request("POST", _path(reference, outcome)))

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        given = _header(headers, SIGNATURE_HEADER)
        if not given:
            raise CallbackRejected(self.name, f"no {SIGNATURE_HEADER} header")
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, utf8(given.strip().lower())):
            raise CallbackRejected(self.name, "signature mismatch")
        try:
            return _result(json_object(body))
        except (KeyError, TypeError, ValueError) as exc:
            raise CallbackUnreadable(self.name, f"unreadable callback: {exc}") from None

    def _answer(self, data: Mapping[str, Any]) -> PaymentResult:
        try:
            return _result(data)
        except (KeyError, TypeError, ValueError) as exc:  # outcome unknown: poll again later
            raise GatewayUnavailable(self.name, f"unreadable answer: {exc}") from None

    async def _request(self, verb: str, path: str, payload: Any = None) -> dict[str, Any]:
        """The one place where transport trouble becomes GatewayUnavailable/GatewayRejected."""
        where = f"{verb} {path}"
        try:
            async with self._http.request(
                verb,
                self._base_url + path,
                json=payload,
                headers=self._auth,
                timeout=self._timeout,
            ) as response:
                status, body = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayUnavailable(self.name, f"{where}: {type(exc).__name__}") from exc
        if status == 429 or status >= 500:
            raise GatewayUnavailable(
                self.name, f"{where}: HTTP {status}", retry_after_seconds(retry_after)
            )
        if status >= 400:
            raise GatewayRejected(self.name, f"{where}: HTTP {status} {_error_text(body)}")
        try:
            return json_object(body)
        except ValueError:
            raise GatewayUnavailable(self.name, f"{where}: HTTP {status}, not JSON") from None


def _result(data: Mapping[str, Any]) -> PaymentResult:
    """One reading for create, fetch and callback answers; raises on a missing field."""
    raw_status, method, amount = data["status"], data["method"], data["amount"]
    if not isinstance(raw_status, str) or not isinstance(method, str):
        raise TypeError("status and method must be strings")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"amount is not an integer: {amount!r}")
    reason = data.get("failure_reason")
    return PaymentResult(
        reference=str(data["reference"]),
        external_id=str(data["id"]),
        status=to_status(raw_status),
        amount=amount,
        currency=str(data["currency"]),
        instructions=_instructions(method, data.get("instructions")),
        expires_at=datetime.fromisoformat(data["expires_at"]) if "expires_at" in data else None,
        reason=reason if isinstance(reason, str) else None,
        raw_status=raw_status,
        raw=dict(data),
    )


def _instructions(method: str, data: Any) -> Instructions | None:
    if not isinstance(data, Mapping):
        return None  # callbacks carry none
    return Instructions(
        kind=MethodKind(method.partition(":")[0]),
        bank=data.get("bank"),
        number=data.get("va_number"),
        qr_string=data.get("qr_string"),
        url=data.get("pay_url"),
        phone=data.get("phone"),
    )


def _path(reference: str, action: str | None = None) -> str:
    path = f"/api/payments/{quote(reference, safe='')}"
    return f"{path}/{action}" if action else path


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive, whether or not the mapping is (aiohttp's is, a plain dict is not)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _error_text(body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError, RecursionError):
        message = body[:200].decode("utf-8", "replace")
    return str(message)[:200]
