"""Stripe Checkout: a hosted card page (stripe:link) through the official SDK.

The SDK's async client runs on the app's aiohttp session (AIOHTTPClient), so Stripe costs no
second HTTP stack; its base address is a setting, so tests point it at a fake speaking
Stripe's wire format. The webhook signature covers the whole body and a timestamp (300 s
tolerance): a verified event is believed without a status query. Imported only when
`[payments.stripe]` is enabled (payments/gateways/stripe/__init__.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

import aiohttp
import stripe

from payments.base import (
    BelowMinimum,
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
from payments.gateways.parsing import json_object, text_field
from payments.gateways.stripe import amounts
from payments.gateways.stripe.settings import LONGEST, SHORTEST

log = logging.getLogger(__name__)
S = PaymentStatus
SIGNATURE_HEADER: Final = "Stripe-Signature"
TOLERANCE: Final = 300  # seconds: the SDK's default, said out loud
GRID: Final = 15 * 60  # seconds: where a deadline moved into Stripe's window lands
MARGIN: Final = 120  # seconds kept off Stripe's expiry bounds: our clock and theirs differ
# (session status, payment_status) -> ours. Anything else reads as pending (to_status).
STATUS_MAP: Final[Mapping[tuple[str, str], PaymentStatus]] = {
    ("open", "unpaid"): S.PENDING,
    ("complete", "paid"): S.PAID,
    ("complete", "no_payment_required"): S.PAID,
    ("complete", "unpaid"): S.PROCESSING,  # a delayed method (bank debit) still in flight
    ("expired", "unpaid"): S.EXPIRED,
}
# checkout.session.completed: the customer finished; whether money moved is payment_status.
COMPLETED: Final[Mapping[str, PaymentStatus]] = {
    "paid": S.PAID,
    "no_payment_required": S.PAID,
    "unpaid": S.PROCESSING,  # a delayed method (bank debit) still in flight
}
# Session events that name their outcome whatever the session's fields say.
EVENTS: Final[Mapping[str, PaymentStatus]] = {
    "checkout.session.async_payment_succeeded": S.PAID,
    "checkout.session.async_payment_failed": S.FAILED,
    "checkout.session.expired": S.EXPIRED,
}
# A Refund object's status -> ours. pending/requires_action (and anything new) stay
# requested: the sweep asks again with the same idempotency key and gets the same refund.
REFUND_STATUS: Final[Mapping[str, RefundStatus]] = {
    "succeeded": RefundStatus.DONE,
    "pending": RefundStatus.REQUESTED,
    "requires_action": RefundStatus.REQUESTED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def to_status(status: str, payment_status: str) -> PaymentStatus:
    mapped = STATUS_MAP.get((status, payment_status))
    if mapped is None:
        log.warning("stripe: unmapped status %r/%r, treating as pending", status, payment_status)
        return S.PENDING
    return mapped


class StripeGateway:
    name: ClassVar[str] = "stripe"
    confirm_paid_by_query: ClassVar[bool] = False  # the signature covers the whole event

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        api_base: str,
        secret_key: str,
        webhook_secret: str,
        timeout: float,
    ) -> None:
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=stripe.AIOHTTPClient(session=http, timeout=timeout),
            max_network_retries=0,  # the poller and the attempts retry, with our reference
        )
        self._webhook_secret = webhook_secret

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name and method.kind is MethodKind.LINK

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """One session per reference: the idempotency key is the reference and the deadline
        we send, so a retry after an unknown outcome gets the same session back (Stripe keeps
        keys for 24 hours and refuses a key with other parameters). A deadline that had to be
        moved into Stripe's window may move again on a later retry: that retry makes a new
        session, and the first one, whose page we never learned, cannot be paid."""
        least = amounts.below_minimum(checkout.amount, checkout.currency)
        if least is not None:
            raise BelowMinimum(self.name, least, checkout.currency)
        params: Any = self._session_params(checkout, datetime.now(UTC))
        options: Any = {"idempotency_key": f"checkout-{checkout.reference}-{params['expires_at']}"}
        session = await self._call(self._client.v1.checkout.sessions.create_async(params, options))
        return self._result(session)

    def _session_params(self, checkout: Checkout, now: datetime) -> dict[str, Any]:
        currency = checkout.currency.upper()
        back = checkout.return_url or checkout.callback_url
        return {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amounts.to_stripe(checkout.amount, currency),
                        "product_data": {"name": checkout.description[:250] or "Order"},
                    },
                }
            ],
            "client_reference_id": checkout.reference,
            "metadata": {"reference": checkout.reference},
            "payment_intent_data": {"metadata": {"reference": checkout.reference}},
            "expires_at": _expires_at(checkout.expires_at, now),
            "success_url": back,
            "cancel_url": back,
            **({"customer_email": checkout.customer.email} if checkout.customer.email else {}),
        }

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """Without the session's id (its creation's outcome unknown) there is nothing to ask:
        the next create with the same reference returns that session, if there is one."""
        if not ref.external_id:
            return PaymentResult(ref.reference, None, S.PENDING)
        sessions = self._client.v1.checkout.sessions
        return self._result(await self._call(sessions.retrieve_async(ref.external_id)))

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """Expire an open session; one already paid or expired is reported as it is."""
        if not ref.external_id:
            return None
        sessions = self._client.v1.checkout.sessions
        try:
            return self._result(await self._call(sessions.expire_async(ref.external_id)))
        except GatewayRejected:  # not open any more: say what it is
            return await self.fetch_status(ref)

    async def refund_payment(self, ref: PaymentRef, ask: RefundAsk) -> RefundResult:
        """The session's payment intent, then `POST /v1/refunds` with it and the amount in
        Stripe's units. The idempotency key is the refund's reference: asking again after an
        unknown outcome returns the same refund (Stripe keeps keys 24 hours; the sweep asks
        again within minutes), but with the answer first given, so a pending refund is read
        again by its id. Stripe's `reason` is an enum, so ours travels in metadata."""
        if not ref.external_id:
            raise GatewayRejected(self.name, f"refund={ask.reference}: no session to refund")
        sessions = self._client.v1.checkout.sessions
        session = await self._call(sessions.retrieve_async(ref.external_id))
        intent = session.to_dict().get("payment_intent")
        if isinstance(intent, dict):  # expanded
            intent = intent.get("id")
        intent_id = intent if isinstance(intent, str) else None
        if not intent_id:
            raise GatewayRejected(self.name, f"refund={ask.reference}: session has no payment")
        params: Any = {
            "payment_intent": intent_id,
            "amount": amounts.to_stripe(ask.amount, ask.currency),
            "metadata": {"reference": ask.reference, "reason": ask.reason[:200]},
        }
        options: Any = {"idempotency_key": ask.reference}
        refunds = self._client.v1.refunds
        result = read_refund((await self._call(refunds.create_async(params, options))).to_dict())
        if result.status is RefundStatus.REQUESTED and result.external_id:
            # Stripe replays a key's first answer: a refund pending then is asked by its id.
            now = await self._call(refunds.retrieve_async(result.external_id))
            result = read_refund(now.to_dict())
        return result

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """Verify with the SDK over the raw body, then read the event ourselves (hostile-safe
        JSON, payments/gateways/parsing.py). Stripe repeats and reorders events: each one
        says a status, and the one transition table makes repeats and stale ones no-ops."""
        header = headers.get(SIGNATURE_HEADER, "")
        if not header:
            raise CallbackRejected(self.name, "no Stripe-Signature header")
        try:
            text = body.decode("utf-8")
            stripe.WebhookSignature.verify_header(text, header, self._webhook_secret, TOLERANCE)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
            raise CallbackRejected(self.name, "Stripe-Signature does not verify") from None
        try:
            event = json_object(body)
        except ValueError as exc:
            raise CallbackUnreadable(self.name, f"event is not JSON: {exc}") from None
        return read_event(event)

    @staticmethod
    def _result(session: Any) -> PaymentResult:
        return read_session(session.to_dict() if hasattr(session, "to_dict") else session)

    async def _call(self, pending: Any) -> Any:
        """The SDK's errors in our words; their text is Stripe's, which masks keys, but we
        keep only the class and code to be sure no secret travels on."""
        try:
            return await pending
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(self.name, _describe(exc)) from None
        except stripe.StripeError as exc:
            status = exc.http_status or 0
            if status >= 500 or status == 0:
                raise GatewayUnavailable(self.name, _describe(exc)) from None
            raise GatewayRejected(self.name, _describe(exc)) from None


def read_session(data: Mapping[str, Any], event: str = "") -> PaymentResult:
    """A checkout.session object (from the API or inside an event) as our result."""
    status = text_field(data.get("status")) or ""
    paid = text_field(data.get("payment_status")) or ""
    if event == "checkout.session.completed":
        mapped = COMPLETED.get(paid) or to_status("complete", paid)
    else:
        mapped = EVENTS.get(event) or to_status(status, paid)
    currency = (text_field(data.get("currency")) or "").upper() or None
    total = data.get("amount_total")
    amount = (
        amounts.from_stripe(total, currency)
        if isinstance(total, int) and not isinstance(total, bool) and currency
        else None
    )
    url = text_field(data.get("url"), blank_is_none=True)
    expires = data.get("expires_at")
    return PaymentResult(
        reference=text_field(data.get("client_reference_id"), blank_is_none=True),
        external_id=text_field(data.get("id"), blank_is_none=True),
        status=mapped,
        amount=amount,
        currency=currency,
        instructions=Instructions(MethodKind.LINK, url=url) if url else None,
        expires_at=_time(expires),
        raw_status=f"{status}/{paid}" if not event else f"{event} {status}/{paid}",
        raw=dict(data),
    )


def read_refund(data: Mapping[str, Any]) -> RefundResult:
    """A Refund object as our result; a status we do not know stays requested (asked again)."""
    raw = text_field(data.get("status")) or ""
    status = REFUND_STATUS.get(raw)
    if status is None:
        log.warning("stripe: unmapped refund status %r, treating as requested", raw[:40])
        status = RefundStatus.REQUESTED
    reason = None
    if status is RefundStatus.FAILED:
        why = text_field(data.get("failure_reason"), blank_is_none=True) or "unknown"
        reason = f"stripe refund {raw}: {why}"[:300]
    given = text_field(data.get("id"), blank_is_none=True)
    return RefundResult(status, external_id=given, reason=reason, raw=dict(data))


def read_event(event: Mapping[str, Any]) -> PaymentResult:
    kind = text_field(event.get("type")) or ""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise CallbackUnreadable("stripe", "event without data.object")
    if kind.startswith("checkout.session."):
        return read_session(obj, kind)
    if kind == "charge.refunded":
        return _refund(obj)
    # A verified event of a kind we do not act on: about no payment, so stored and 200.
    return PaymentResult(None, None, S.PENDING, raw_status=kind[:60], raw=dict(event))


def _refund(charge: Mapping[str, Any]) -> PaymentResult:
    """Whole refunds only move a payment (to refunded); a part leaves it paid. The charge
    names our reference through the payment intent's metadata, which Stripe copies onto
    the charge (UNCONFIRMED: where it does not, the event matches no payment and is kept)."""
    metadata = charge.get("metadata")
    reference = text_field(metadata.get("reference")) if isinstance(metadata, dict) else None
    whole = charge.get("refunded") is True
    return PaymentResult(
        reference=reference,
        external_id=None,
        status=S.REFUNDED if whole else S.PAID,
        raw_status="charge.refunded" if whole else "charge.refunded partly",
        raw=dict(charge),
    )


def _expires_at(wanted: datetime, now: datetime) -> int:
    """Our deadline, moved inside the window Stripe accepts; moved ones land on a
    quarter-hour grid so that retries minutes apart send the same value."""
    earliest = now + timedelta(seconds=SHORTEST + MARGIN)
    latest = now + timedelta(seconds=LONGEST - MARGIN)
    if earliest <= wanted <= latest:
        return int(wanted.timestamp())
    if wanted < earliest:
        return -(-int(earliest.timestamp()) // GRID) * GRID  # up to the grid
    return int(latest.timestamp()) // GRID * GRID  # down to the grid


def _time(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**33:
        return datetime.fromtimestamp(value, UTC)
    return None


def _describe(exc: stripe.StripeError) -> str:
    code = getattr(exc, "code", None) or ""
    return f"{type(exc).__name__} {exc.http_status or ''} {code}".strip()
