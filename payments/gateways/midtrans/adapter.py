"""Midtrans: Snap pages and Core API charges. Docs: https://docs.midtrans.com/reference

Midtrans often answers errors with HTTP 200 and an error `status_code` in the body, so every
answer is judged by its body first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
from payments.gateways.http import retry_after
from payments.gateways.parsing import WIB, json_object_or_none, text_field, utf8, wib_time

log = logging.getLogger(__name__)
S = PaymentStatus

# Every transaction_status Midtrans documents. Unknown values read as PENDING (to_status).
# "capture" pays only once fraud screening accepted it; partial_* are flagged through reason.
STATUS_MAP: Final[Mapping[str, PaymentStatus]] = {
    "pending": S.PENDING,
    "authorize": S.PROCESSING,
    "capture": S.PAID,
    "settlement": S.PAID,
    "deny": S.FAILED,
    "failure": S.FAILED,
    "cancel": S.CANCELLED,
    "expire": S.EXPIRED,
    "refund": S.REFUNDED,
    "chargeback": S.REFUNDED,
    # A part given back leaves the payment paid (payments/refunds.py keeps the refunds).
    "partial_refund": S.PAID,
    "partial_chargeback": S.PAID,
}
# A paying status counts only if fraud_status, when present, is "accept".
FRAUD_MAP: Final[Mapping[str, PaymentStatus]] = {
    "accept": S.PAID,
    "challenge": S.PROCESSING,
    "deny": S.FAILED,
}
# Core API charge fields per method (echannel gets its bill_info per order); "link" is Snap.
CHARGE_FIELDS: Final[Mapping[str, Mapping[str, Any]]] = {
    "qris": {"payment_type": "qris", "qris": {"acquirer": "gopay"}},
    "va:mandiri": {"payment_type": "echannel"},  # Mandiri Bill: biller code + bill key
    **{
        f"va:{bank}": {"payment_type": "bank_transfer", "bank_transfer": {"bank": bank}}
        for bank in ("bca", "bni", "bri", "cimb", "permata")
    },
}
METHODS: Final = frozenset({"link", *CHARGE_FIELDS})
SIGNED: Final = ("order_id", "status_code", "gross_amount", "signature_key")  # and the key
# "order_id already used" is 406 on the Core API; Snap's answer is UNCONFIRMED (400 reported).
MAYBE_TAKEN: Final = frozenset({400, 406, 409})
# An unreadable body: a callback is refused; an answer to our call leaves the outcome unknown.
Unreadable = type[CallbackUnreadable] | type[GatewayUnavailable]
_WHOLE_RUPIAH: Final = re.compile(r"(\d{1,15})(?:\.0+)?")


def to_status(raw: str, fraud: str | None = None) -> PaymentStatus:
    """Midtrans' transaction_status (and fraud_status) in our words; unknown reads as PENDING."""
    status = STATUS_MAP.get(raw)
    if status is None:
        log.warning("midtrans: unmapped status %r, treating as pending", raw)
        return S.PENDING
    if status is not S.PAID or (fraud is None and raw == "settlement"):
        return status  # cstore-like methods skip screening: no fraud_status on a settlement
    verdict = S.PROCESSING if fraud is None else FRAUD_MAP.get(fraud)  # unscreened capture
    if verdict is None:
        log.warning("midtrans: unmapped fraud_status %r, treating as pending", fraud)
        return S.PENDING
    return verdict


class MidtransGateway:
    """One merchant account. base_url: the Core API host; snap_url: the Snap host."""

    name: ClassVar[str] = "midtrans"
    # signature_key covers order_id, status_code and gross_amount, not transaction_status.
    confirm_paid_by_query: ClassVar[bool] = True

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        snap_url: str,
        server_key: str,
        timeout: float = 10.0,
    ) -> None:
        self._http, self._base, self._snap = http, base_url.rstrip("/"), snap_url.rstrip("/")
        self._key = server_key
        self._auth = "Basic " + base64.b64encode(f"{server_key}:".encode()).decode()
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:  # the default one would show the key in tracebacks
        return f"MidtransGateway(base_url={self._base!r}, snap_url={self._snap!r})"

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name and method.local in METHODS

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """Charge once per reference: a taken order_id returns the payment it already names."""
        self._check(checkout)
        start = datetime.now(WIB).replace(microsecond=0)
        snap = checkout.method.kind is MethodKind.LINK
        url = f"{self._snap}/snap/v1/transactions" if snap else f"{self._base}/v2/charge"
        headers = {"X-Override-Notification": checkout.callback_url}
        body = _create_body(checkout, start)
        code, data = await self._request("POST", url, body, headers, accept=MAYBE_TAKEN)
        if code in MAYBE_TAKEN:
            return await self._existing(checkout, self._rejected(code, data, "POST create"))
        if not snap:
            return self._result(data)
        if not isinstance(page := data.get("redirect_url"), str):
            raise GatewayUnavailable(self.name, "snap answer without redirect_url")
        deadline = (start + timedelta(minutes=_minutes(checkout, start))).astimezone(UTC)
        link = Instructions(MethodKind.LINK, url=page)  # no payment until a method is picked
        return PaymentResult(checkout.reference, None, S.PENDING, None, "IDR", link, deadline)

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """Ask by order_id; not found means no payment yet (a Snap page before a choice)."""
        url = f"{self._base}/v2/{quote(ref.reference, safe='')}/status"
        code, data = await self._request("GET", url, accept=frozenset({404}))
        if code == 404:  # Midtrans has no payment for it yet
            return PaymentResult(ref.reference, ref.external_id, S.PENDING)
        return self._result(data)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """Cancel a pending charge; where Midtrans refuses (404, 412) report the current state."""
        url = f"{self._base}/v2/{quote(ref.reference, safe='')}/cancel"
        code, data = await self._request("POST", url, accept=frozenset({404, 412}))
        return await self.fetch_status(ref) if code in (404, 412) else self._result(data)

    async def refund_payment(self, ref: PaymentRef, ask: RefundAsk) -> RefundResult:
        """`POST /v2/{order_id}/refund` with refund_key, our refund reference, which Midtrans
        keeps unique per refund. UNCONFIRMED beyond the path and body fields: the answer's
        shape (transaction_status refund / partial_refund, refund_chargeback_id) is read
        defensively, and bank-transfer payments are refused with 412 (a failed refund, by
        hand then)."""
        url = f"{self._base}/v2/{quote(ref.reference, safe='')}/refund"
        body = {"refund_key": ask.reference, "amount": ask.amount, "reason": ask.reason or "-"}
        _, data = await self._request("POST", url, body)
        raw = data.get("transaction_status")
        if raw not in ("refund", "partial_refund"):
            raise GatewayUnavailable(self.name, f"refund={ask.reference}: answer {raw!r:.40}")
        given = text_field(data.get("refund_chargeback_id"))
        return RefundResult(RefundStatus.DONE, external_id=given or ask.reference, raw=data)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """Check signature_key over the fields exactly as sent, then read the body."""
        data = json_object_or_none(body)
        if data is None:
            raise CallbackUnreadable(self.name, "body is not a JSON object")
        fields = [data.get(k) for k in SIGNED]
        if not all(isinstance(v, str) for v in fields):
            raise CallbackUnreadable(self.name, "a signed field or signature_key is missing")
        order_id, code, gross, signature = map(str, fields)
        expected = hashlib.sha512(utf8(f"{order_id}{code}{gross}{self._key}")).hexdigest()
        if not hmac.compare_digest(expected.encode(), utf8(signature)):
            raise CallbackRejected(self.name, f"signature mismatch, order={order_id[:64]!r}")
        return self._result(data, CallbackUnreadable)

    def _check(self, checkout: Checkout) -> None:
        """Refuse what Midtrans cannot take before asking: a bug on our side, not an outage."""
        if not self.supports(checkout.method) or checkout.currency != "IDR" or checkout.amount < 1:
            detail = f"cannot take {checkout.amount} {checkout.currency} by {checkout.method}"
            raise GatewayRejected(self.name, f"{detail}: whole IDR, {sorted(METHODS)} only")

    async def _existing(self, checkout: Checkout, refusal: GatewayRejected) -> PaymentResult:
        """After "order_id taken": return the payment it names if it is ours, else refuse."""
        method = checkout.method
        result = await self.fetch_status(PaymentRef(checkout.reference, None, method))
        if result.raw_status is None:  # nothing there: the refusal was about something else
            raise refusal
        got = result.instructions or Instructions(method.kind)  # a Snap choice may give none
        same = got.kind is method.kind and (got.bank or "").startswith(method.channel or "")
        if result.amount != checkout.amount or not (method.kind is MethodKind.LINK or same):
            raise GatewayRejected(self.name, f"order={checkout.reference} used by another payment")
        return result

    async def _request(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[int, dict[str, Any]]:
        """One call. Transport trouble and error codes (body first) become our errors."""
        what = f"{method} {url.removeprefix(self._base).removeprefix(self._snap)}"
        sent = {"Authorization": self._auth, "Accept": "application/json", **(headers or {})}
        try:
            async with self._http.request(
                method, url, json=body, headers=sent, timeout=self._timeout, raise_for_status=False
            ) as resp:
                raw, status = await resp.read(), resp.status
                retry = resp.headers.get("Retry-After", "")
        except (TimeoutError, aiohttp.ClientError) as exc:  # not chained: aiohttp keeps headers
            raise GatewayUnavailable(self.name, f"{what}: {type(exc).__name__}") from None
        data = json_object_or_none(raw) or {}
        code = _effective_code(status, data)
        if code == 429 or code >= 500:
            raise GatewayUnavailable(self.name, f"{what}: {code}", retry_after(retry))
        if code in accept:
            return code, data
        if code >= 400:
            raise self._rejected(code, data, what)
        if not data:
            raise GatewayUnavailable(self.name, f"{what}: unreadable answer (HTTP {status})")
        return code, data

    def _result(
        self, data: Mapping[str, Any], unreadable: Unreadable = GatewayUnavailable
    ) -> PaymentResult:
        """One reading of charge, status, cancel and callback bodies: they share their fields."""
        get, raw, fraud = data.get, data.get("transaction_status"), data.get("fraud_status")
        if not isinstance(raw, str):
            raise unreadable(self.name, "no transaction_status")
        fraud = fraud if isinstance(fraud, str) else None
        why = f"{raw}: only part went back" if raw.startswith("partial_") else None
        return PaymentResult(
            reference=text_field(get("order_id")),
            external_id=text_field(get("transaction_id")),
            status=to_status(raw, fraud),
            amount=_rupiah(get("gross_amount"), unreadable),
            currency=text_field(get("currency")) or "IDR",
            instructions=_instructions(data, self._base),
            expires_at=_utc(wib_time(get("expiry_time"))),
            reason=why or text_field(get("channel_response_message")),
            raw_status=raw if fraud in (None, "accept") else f"{raw}/{fraud}",
            raw=data,
        )

    def _rejected(self, code: int, data: Mapping[str, Any], what: str) -> GatewayRejected:
        text = str(data.get("status_message") or data.get("error_messages") or "")[:200]
        return GatewayRejected(self.name, f"{what}: {code} {text.replace(self._key, '***')}")


def _effective_code(http_status: int, data: Mapping[str, Any]) -> int:
    """The worse of HTTP and body codes; a transaction's status_code (407 expired) is no error."""
    raw = "" if "transaction_status" in data else str(data.get("status_code", ""))
    return max(http_status, int(raw) if raw.isdigit() else 0)


def _minutes(checkout: Checkout, start: datetime) -> int:
    """Whole minutes left, rounded down so Midtrans never outlives our own deadline."""
    return max(1, int((checkout.expires_at - start).total_seconds() // 60))


def _create_body(checkout: Checkout, start: datetime) -> dict[str, Any]:
    """A hard deadline: without start_time, Snap's clock starts at the customer's choice."""
    when, minutes = f"{start:%Y-%m-%d %H:%M:%S %z}", _minutes(checkout, start)
    who = checkout.customer
    contact = {"first_name": who.name, "email": who.email, "phone": who.phone}
    body: dict[str, Any] = {
        "transaction_details": {"order_id": checkout.reference, "gross_amount": checkout.amount},
        "customer_details": {k: v for k, v in contact.items() if v},
    }
    if checkout.method.kind is not MethodKind.LINK:
        body["custom_expiry"] = {"order_time": when, "unit": "minute", "expiry_duration": minutes}
        body.update(CHARGE_FIELDS[checkout.method.local])
        if body["payment_type"] == "echannel":  # shown in the customer's Mandiri app
            body["echannel"] = {"bill_info1": "Order", "bill_info2": checkout.reference}
        return body
    body["expiry"] = {"start_time": when, "unit": "minute", "duration": minutes}
    if checkout.return_url:
        body["callbacks"] = {"finish": checkout.return_url}
    return body


def _rupiah(value: Any, unreadable: Unreadable) -> int:
    """gross_amount as whole rupiah: "150000.00" -> 150000; sen are refused, never rounded."""
    match = _WHOLE_RUPIAH.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise unreadable(MidtransGateway.name, f"gross_amount not whole rupiah: {value!r:.40}")
    return int(match.group(1))


def _instructions(data: Mapping[str, Any], base: str) -> Instructions | None:
    """What the customer needs; status answers repeat the VA fields of the charge answer."""
    vas, va = data.get("va_numbers"), MethodKind.VA
    if isinstance(vas, list) and vas and isinstance(vas[0], dict):
        return Instructions(
            va, text_field(vas[0].get("bank")), text_field(vas[0].get("va_number"))
        )
    if data.get("permata_va_number"):
        return Instructions(va, "permata", text_field(data["permata_va_number"]))
    if data.get("bill_key") and data.get("biller_code"):
        # One number field: the bill key, which the customer types after the biller code.
        bank = f"mandiri (biller code {data['biller_code']})"
        return Instructions(va, bank, text_field(data["bill_key"]))
    if data.get("payment_type") == "qris":
        return Instructions(
            MethodKind.QRIS, qr_string=text_field(data.get("qr_string")), url=_qr_url(data, base)
        )
    return None


def _qr_url(data: Mapping[str, Any], base: str) -> str | None:
    """The QR image action; status answers may lack it (UNCONFIRMED), so rebuild its pattern."""
    listed = data.get("actions")
    actions = [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    urls = [text_field(a.get("url")) for a in actions if a.get("name") == "generate-qr-code"]
    tid = text_field(data.get("transaction_id"))
    return urls[0] if urls else f"{base}/v2/qris/{tid}/qr-code" if tid else None


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment else None
