"""iPaymu v2 adapter: hosted page, direct VA and QRIS.

Docs: https://github.com/ipaymu/docs-ipaymu-api-v2
Callback signatures are partly UNCONFIRMED, so a callback is only a hint: the route confirms it
with fetch_status (/api/v2/transaction, authenticated by our own request signature).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final

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
)
from payments.gateways.http import retry_after
from payments.gateways.ipaymu import wire
from payments.gateways.parsing import WIB, utf8, wib_time

log = logging.getLogger(__name__)
S = PaymentStatus

# Every code iPaymu documents (/transaction Data.Status = callback status_code). Unknown codes
# read as PENDING (to_status). 1 is settled at once, 6 received but settled later, 7 escrow.
STATUS_MAP: Final[Mapping[int, PaymentStatus]] = {
    -2: S.EXPIRED,
    0: S.PENDING,
    1: S.PAID,
    2: S.CANCELLED,
    3: S.REFUNDED,
    4: S.FAILED,
    5: S.FAILED,
    6: S.PAID,
    7: S.PAID,
}
VA_BANKS: Final = frozenset({"bca", "bni", "bri", "mandiri", "cimb", "permata", "bsi"})
# iPaymu's times have no zone and are read as WIB (parsing.py): UNCONFIRMED
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")  # the shape of every signature
# /api/v2/transaction needs iPaymu's id; /api/v2/history filters by status and date only.
_NO_TRX: Final = "no iPaymu trx_id yet and no lookup by referenceId: wait for its callback"
_IN_DOUBT: Final = (
    "an earlier create is in flight or its outcome is unknown, and iPaymu has no"
    " lookup by referenceId: not creating twice; wait for a callback or retry"
    " with a new reference"
)


def to_status(raw: object) -> PaymentStatus:
    """Our word for an iPaymu code; anything unknown waits as PENDING."""
    try:
        status = STATUS_MAP.get(int(str(raw)))
    except ValueError:
        status = None
    if status is None:
        log.warning("ipaymu: unmapped status %.40r, treating as pending", raw)
        return S.PENDING
    return status


class _NotProcessed(GatewayUnavailable):
    """Unavailable, and certainly not acted on (connection refused, 429): safe to send again."""


class IpaymuGateway:
    """One merchant account: va is its id (and the callback key), api_key signs our requests."""

    name: ClassVar[str] = "ipaymu"
    # The callback signature's normalisation is UNCONFIRMED and older accounts send none.
    confirm_paid_by_query: ClassVar[bool] = True

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        va: str,
        api_key: str,
        timeout: float = 10.0,
    ) -> None:
        self._http, self._base, self._va, self._key = http, base_url.rstrip("/"), va, api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # iPaymu documents neither deduplication of referenceId nor a lookup by it, so we
        # remember each attempt: its answer, or None while its outcome is unknown.
        self._attempts: dict[str, tuple[Checkout, PaymentResult | None]] = {}

    def __repr__(self) -> str:  # never the credentials, whatever renders the object
        return f"IpaymuGateway(base_url={self._base!r})"

    def supports(self, method: MethodId) -> bool:
        va = method.kind is MethodKind.VA and method.channel in VA_BANKS
        plain = method.kind in (MethodKind.LINK, MethodKind.QRIS) and method.channel is None
        return method.gateway == self.name and (va or plain)

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """Create once per reference: iPaymu would take a repeated referenceId as a new payment."""
        known = self._known(checkout)
        if known is not None:
            return known
        path, payload = self._payment_request(checkout)
        self._attempts[checkout.reference] = (checkout, None)  # unknown until iPaymu answers
        try:
            result = self._created(checkout, await self._request(path, payload))
        except (_NotProcessed, GatewayRejected):
            del self._attempts[checkout.reference]  # iPaymu did not act: sending again is safe
            raise
        self._attempts[checkout.reference] = (checkout, result)
        return result

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """The status we act on; callbacks are confirmed here because their auth is weak."""
        trx_id = ref.external_id or self._known_trx(ref.reference)
        if not trx_id:  # a hosted page before its first callback, or a create that timed out
            raise GatewayUnavailable(self.name, f"order={ref.reference}: {_NO_TRX}")
        data = await self._request("/api/v2/transaction", {"transactionId": trx_id})
        try:
            amount, raw = wire.money(data.get("Amount")), wire.text(data.get("Status"))
        except ValueError as exc:
            raise GatewayUnavailable(self.name, f"order={ref.reference}: {exc}") from None
        if raw is None:
            raise GatewayUnavailable(self.name, f"order={ref.reference}: answer without Status")
        # Both ids as iPaymu gives them (its sample shows ReferenceId null): rules.decide
        # moves our payment only when they name it.
        return PaymentResult(
            wire.text(data.get("ReferenceId")),
            wire.text(data.get("TransactionId")) or trx_id,
            to_status(raw),
            amount,
            "IDR",
            raw_status=raw,
            expires_at=wib_time(data.get("ExpiredDate")),
            raw=data,
        )

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """iPaymu v2 documents no cancel call; an unpaid payment simply expires."""
        return None

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """Verify where iPaymu signed; unsigned callbacks (older accounts) rest on the re-query."""
        lower = {key.lower(): value for key, value in headers.items()}
        try:
            fields = wire.callback_fields(lower.get("content-type", ""), body)
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            raise CallbackUnreadable(self.name, "body is neither form nor JSON") from None
        given = lower.get("x-signature") or wire.text(fields.get("signature")) or ""
        try:
            expected = wire.callback_signature(fields, self._va).encode()
        except RecursionError:  # nested deeper than json.dumps goes: nobody signed that
            raise CallbackUnreadable(self.name, "body nested too deeply") from None
        if given and not hmac.compare_digest(utf8(given.strip().lower()), expected):
            order = wire.text(fields.get("reference_id"))
            log.warning("ipaymu: bad callback signature order=%.64r", order)
            raise CallbackRejected(self.name, "signature mismatch")
        return replace(self._callback_result(fields), verified=bool(given))

    def _callback_result(self, fields: Mapping[str, Any]) -> PaymentResult:
        reference = wire.text(fields.get("reference_id") or fields.get("referenceId"))
        trx_id = wire.text(fields.get("trx_id"))
        raw = wire.text(fields.get("status_code", fields.get("transaction_status_code")))
        try:  # sub_total is the price we asked; total and amount can include a buyer's fee
            amount = wire.money(fields.get("sub_total", fields.get("amount")))
        except ValueError as exc:
            raise CallbackUnreadable(self.name, str(exc)) from None
        if not (reference and trx_id and raw and amount is not None):
            raise CallbackUnreadable(self.name, "needs reference_id, trx_id, status_code, amount")
        return PaymentResult(
            reference,
            trx_id,
            to_status(raw),
            amount,
            "IDR",
            raw_status=raw,
            expires_at=wib_time(fields.get("expired_at")),
            raw=fields,
        )

    def _known(self, checkout: Checkout) -> PaymentResult | None:
        """A retry gets the first answer; after an unknown outcome we refuse to create again."""
        horizon = datetime.now(UTC) - timedelta(days=1)  # nobody retries a day after expiry
        for reference in [r for r, (c, _) in self._attempts.items() if c.expires_at < horizon]:
            del self._attempts[reference]
        first, result = self._attempts.get(checkout.reference, (None, None))
        if first is None:
            return None
        if (first.amount, first.method) != (checkout.amount, checkout.method):
            raise GatewayRejected(self.name, f"order={checkout.reference}: reference reused")
        if result is None:
            raise GatewayUnavailable(self.name, f"order={checkout.reference}: {_IN_DOUBT}")
        return result

    def _known_trx(self, reference: str) -> str | None:
        result = self._attempts.get(reference, (None, None))[1]
        return result.external_id if result is not None else None

    def _payment_request(self, checkout: Checkout) -> tuple[str, dict[str, Any]]:
        """The hosted page for links, direct payment for VA and QRIS; None values left out."""
        self._check(checkout)
        buyer, method = checkout.customer, checkout.method
        # MERCHANT pays the fee: the customer pays our price, and iPaymu reports that price.
        payload: dict[str, Any] = {"referenceId": checkout.reference, "feeDirection": "MERCHANT"}
        payload |= {"notifyUrl": checkout.callback_url, **wire.expiry(checkout)}
        if method.kind is MethodKind.LINK:
            path, price, text = "/api/v2/payment", [checkout.amount], [checkout.description]
            payload |= {"product": text, "qty": [1], "price": price, "description": text}
            payload |= {"returnUrl": checkout.return_url, "cancelUrl": checkout.return_url}
            payload |= {"buyerName": buyer.name, "buyerEmail": buyer.email}
            payload |= {"buyerPhone": wire.local_phone(buyer.phone)}
        else:
            path, channel = "/api/v2/payment/direct", method.channel or "mpm"
            payload |= {"name": buyer.name, "phone": wire.local_phone(buyer.phone)}
            payload |= {"email": wire.email(buyer), "amount": checkout.amount}
            payload |= {"paymentMethod": str(method.kind), "paymentChannel": channel}
            payload |= {"comments": checkout.description}
        return path, {key: value for key, value in payload.items() if value is not None}

    def _check(self, checkout: Checkout) -> None:
        """Refuse here what iPaymu would refuse, before anything is sent."""
        link, buyer = checkout.method.kind is MethodKind.LINK, checkout.customer
        contact = bool(buyer.phone)
        problems = {
            "method not supported": not self.supports(checkout.method),
            "iPaymu takes IDR only": checkout.currency != "IDR",
            "amount must be positive": checkout.amount <= 0,
            "the hosted page needs a return_url": link and not checkout.return_url,
            "direct payment needs a phone": not (link or contact),
        }
        problem = next((text for text, bad in problems.items() if bad), None)
        if problem:
            raise GatewayRejected(self.name, f"order={checkout.reference}: {problem}")

    def _created(self, checkout: Checkout, data: Mapping[str, Any]) -> PaymentResult:
        """Instructions from the answer. A hosted page's answer has no TransactionId."""
        kind, number = checkout.method.kind, data.get("PaymentNo")
        trx_id = wire.text(data.get("TransactionId"))
        instructions = Instructions(
            kind,
            bank=checkout.method.channel,
            url=wire.text(data.get("QrImage") or data.get("Url")),
            number=wire.text(number) if kind is MethodKind.VA else None,  # a string: leading zeros
            qr_string=wire.text(data.get("QrString") or number)
            if kind is MethodKind.QRIS
            else None,
        )
        needed = {MethodKind.VA: instructions.number, MethodKind.QRIS: instructions.qr_string}
        if not needed.get(kind, instructions.url) or (kind is not MethodKind.LINK and not trx_id):
            raise GatewayUnavailable(self.name, f"order={checkout.reference}: incomplete answer")
        return PaymentResult(
            checkout.reference,
            trx_id,
            S.PENDING,
            currency="IDR",
            raw=data,
            instructions=instructions,
            expires_at=wib_time(data.get("Expired")),
        )

    async def _request(self, path: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """POST signed JSON and return Data; transport trouble becomes our errors."""
        body = json.dumps(payload, separators=(",", ":")).encode()  # serialised once, sent as is
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "va": self._va,
            "signature": wire.request_signature("POST", self._va, body, self._key),
            # The official samples' format; whether iPaymu checks it or the clock is UNCONFIRMED.
            "timestamp": datetime.now(WIB).strftime("%Y%m%d%H%M%S"),
        }
        url, timeout = self._base + path, self._timeout
        try:
            async with self._http.post(url, data=body, headers=headers, timeout=timeout) as resp:
                return self._answer(path, resp, await resp.read())
        except aiohttp.ClientConnectorError:  # nothing was sent
            raise _NotProcessed(self.name, f"{path}: cannot connect") from None
        except (TimeoutError, aiohttp.ClientError) as exc:  # from None: no headers in tracebacks
            raise GatewayUnavailable(self.name, f"{path}: {type(exc).__name__}") from None

    def _answer(self, path: str, resp: aiohttp.ClientResponse, raw: bytes) -> Mapping[str, Any]:
        """The body's Status decides; whether the HTTP status mirrors it is UNCONFIRMED."""
        if resp.status == 429:
            wait = retry_after(resp.headers.get("Retry-After"))
            raise _NotProcessed(self.name, f"{path}: rate limited (HTTP 429)", wait)
        if resp.status >= 500:
            raise GatewayUnavailable(self.name, f"{path}: HTTP {resp.status}, outcome unknown")
        try:
            envelope = json.loads(raw, parse_float=Decimal)  # money never passes through float
        except ValueError:
            envelope = None
        envelope = envelope if isinstance(envelope, dict) else {}
        code, data = str(envelope.get("Status")), envelope.get("Data")
        if resp.status < 400 and code == "200" and isinstance(data, dict):
            return data
        message = self._scrub(str(envelope.get("Message") or "no message"))[:200]
        if resp.status >= 400 or (code.startswith("4") and code != "429"):
            raise GatewayRejected(self.name, f"{path}: {code} {message} (HTTP {resp.status})")
        raise GatewayUnavailable(self.name, f"{path}: {code} {message}, outcome unknown")

    def _scrub(self, text: str) -> str:
        """iPaymu's messages may echo what we sent; no credential or signature reaches an error."""
        return _HEX64.sub("***", text.replace(self._key, "***").replace(self._va, "***"))
