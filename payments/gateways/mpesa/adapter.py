"""Safaricom M-Pesa Daraja, STK push (M-Pesa Express). Docs: https://developer.safaricom.co.ke

The callback is not signed. What makes it ours is its URL: each push names a CallBackURL that
ends in a token derived from the payment's reference (wire.callback_token), checked by
parse_tokened_callback, which the callback route calls for /callbacks/mpesa/{token}. Even
then the body is only a claim: the route confirms every callback with an STK query before it
moves a payment (confirm_paid_by_query), and takes the paid amount from the callback where
the query reports none. Whether Daraja retries a callback is UNCONFIRMED: the poller asks
on the USSD schedule either way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
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
from payments.gateways.mpesa import wire
from payments.gateways.mpesa.client import DarajaClient
from payments.gateways.parsing import json_object, text_field

log = logging.getLogger(__name__)
S = PaymentStatus

# ResultCode of a finished STK transaction (callback and query). 0, 1032, 1037 and 2001 are
# confirmed by daraja-mock and many samples; the rest are community knowledge (UNCONFIRMED).
# Any other number is a finished transaction that did not pay: failed (to_status).
STATUS_MAP: Final[Mapping[str, PaymentStatus]] = {
    "0": S.PAID,
    "1032": S.CANCELLED,
    "1037": S.EXPIRED,  # the phone could not be reached in time: a project choice vs failed
    "1019": S.EXPIRED,
    "1": S.FAILED,
    "2001": S.FAILED,
    "1001": S.FAILED,
    "1025": S.FAILED,
    "9999": S.FAILED,
    "17": S.FAILED,
}
# Why, in words a customer reads: kept as the payment's reason (PaymentResult.reason).
REASONS: Final[Mapping[str, str]] = {
    "1032": "you cancelled the prompt",
    "1037": "the phone could not be reached",
    "1019": "the prompt expired",
    "1": "not enough balance",
    "2001": "wrong PIN",
    "1001": "another M-Pesa payment was in progress, try again in a minute",
    "1025": "the prompt could not be sent",
    "9999": "the prompt could not be sent",
    "17": "an M-Pesa limit was reached",
}
PUSH_MEMORY: Final = 900.0  # seconds a push's answer is kept for a retry of its reference
ACCEPTED: Final = json.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}).encode()
REFUSED: Final = json.dumps({"ResultCode": 1, "ResultDesc": "Rejected"}).encode()
ANSWERED_AS_ACCEPTED: Final = frozenset({"applied", "duplicate", "stale", "review", "unmatched"})


def to_status(code: str) -> PaymentStatus:
    """A ResultCode in our words. A number we do not list is a finished transaction that did
    not pay (Daraja's one success is 0); anything else is unknown and reads as pending."""
    status = STATUS_MAP.get(code)
    if status is not None:
        return status
    if code.isdigit():
        log.warning("mpesa: unlisted result code %r, treating as failed", code[:12])
        return S.FAILED
    log.warning("mpesa: unmapped status %r, treating as pending", code[:40])
    return S.PENDING


class MpesaGateway:
    """One Daraja app (consumer key and secret) and one Paybill or Till."""

    name: ClassVar[str] = "mpesa"
    confirm_paid_by_query: ClassVar[bool] = True  # nothing in the callback is signed

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        shortcode: str,
        passkey: str,
        transaction_type: str = "paybill",
        till_number: str = "",
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._http, self._base = http, base_url.rstrip("/")
        self._shortcode, self._passkey, self._clock = shortcode, passkey, clock
        self._type = wire.TRANSACTION_TYPES[transaction_type]
        self._party_b = till_number if transaction_type == "till" else shortcode
        self._daraja = DarajaClient(
            http,
            base_url=base_url,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            timeout=timeout,
            secrets=(passkey,),
        )
        # The callback tokens' key: from the consumer secret, so no setting of its own.
        self._key = hmac.new(consumer_secret.encode(), wire.TOKEN_LABEL, hashlib.sha256).digest()
        self._timeout_s = timeout
        self._pushes: dict[str, tuple[asyncio.Task[PaymentResult], float]] = {}

    def __repr__(self) -> str:  # the default one would show the secrets in tracebacks
        return f"MpesaGateway(base_url={self._base!r}, shortcode={self._shortcode!r})"

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name and method.local in wire.METHODS

    def callback_url(self, base: str, reference: str) -> str:
        """The CallBackURL for one payment: our route, then its token."""
        return f"{base.rstrip('/')}/{wire.callback_token(self._key, reference)}"

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """Send the prompt. Daraja takes no idempotency key, so a retry of a reference whose
        push is still unanswered (or was answered after we stopped waiting) waits for that
        push instead of sending another: in this process only (see docs/gateways/mpesa.md)."""
        body = self._push_body(checkout)
        self._forget_old_pushes()
        known = self._pushes.get(checkout.reference)
        if known is None or _worth_retrying(known[0]):
            task = asyncio.ensure_future(self._push(body))
            task.add_done_callback(_retrieve)
            known = (task, time.monotonic())
            self._pushes[checkout.reference] = known
        try:
            return await asyncio.wait_for(asyncio.shield(known[0]), self._timeout_s)
        except TimeoutError:
            raise GatewayUnavailable(self.name, "stk push: no answer in time") from None

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """STK query by CheckoutRequestID. Daraja has no look-up by our reference: without
        the id (the push's answer never came) the payment reads as pending."""
        if not ref.external_id:
            return PaymentResult(ref.reference, None, S.PENDING)
        stamp = wire.timestamp(self._clock())
        body = {
            "BusinessShortCode": self._shortcode,
            "Password": wire.password(self._shortcode, self._passkey, stamp),
            "Timestamp": stamp,
            "CheckoutRequestID": ref.external_id,
        }
        code, data = await self._daraja.post("/mpesa/stkpushquery/v1/query", body, query=True)
        if code != 200:  # one of the still-open answers (post let it through)
            raw = text_field(data.get("errorCode")) or str(code)
            return PaymentResult(None, ref.external_id, S.PENDING, raw_status=raw, raw=data)
        return self._result(data, GatewayUnavailable)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """Daraja cannot withdraw a prompt; report where it stands, so that one paid anyway
        is taken as paid (and flagged) rather than lost."""
        return await self.fetch_status(ref) if ref.external_id else None

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """A callback to /callbacks/mpesa itself: we never give Daraja that URL."""
        raise CallbackRejected(self.name, "callback without its URL token")

    def parse_tokened_callback(
        self, token: str, headers: Mapping[str, str], body: bytes
    ) -> PaymentResult:
        """Check the URL's token, then read Body.stkCallback: the token names our payment."""
        reference = wire.token_reference(self._key, token)
        if reference is None:
            raise CallbackRejected(self.name, "unknown callback token")
        try:
            data = json_object(body, parse_float=Decimal)  # money never passes through float
        except ValueError:
            raise CallbackUnreadable(self.name, "body is not a JSON object") from None
        callback = wire.stk_callback(data)
        if callback is None:
            raise CallbackUnreadable(self.name, "no Body.stkCallback")
        result = self._result(callback, CallbackUnreadable, reference=reference)
        items = wire.metadata(callback)
        if result.status is S.PAID and "Amount" in items:
            amount = wire.cents(items["Amount"])
            if amount is None:
                raise CallbackUnreadable(self.name, "Amount is not whole shillings")
            return replace(result, amount=amount)
        return result

    def answer_callback(self, outcome: str) -> bytes:
        """Daraja's own answer shape; it reads nothing else from our answer."""
        return ACCEPTED if outcome in ANSWERED_AS_ACCEPTED else REFUSED

    def _push_body(self, checkout: Checkout) -> dict[str, Any]:
        """Refuse what Daraja would refuse before asking: a bug or a number not Kenyan."""
        amount = wire.shillings(checkout.amount)
        if not self.supports(checkout.method) or checkout.currency != "KES" or amount is None:
            detail = f"cannot take {checkout.amount} {checkout.currency} by {checkout.method}"
            raise GatewayRejected(self.name, f"{detail}: whole KES shillings by ussd only")
        phone = wire.msisdn(checkout.customer.phone)
        if phone is None:
            raise GatewayRejected(self.name, "the phone is not a Kenyan mobile number")
        stamp = wire.timestamp(self._clock())
        return wire.push_body(
            shortcode=self._shortcode,
            party_b=self._party_b,
            transaction_type=self._type,
            pwd=wire.password(self._shortcode, self._passkey, stamp),
            stamp=stamp,
            amount=amount,
            phone=phone,
            callback_url=self.callback_url(checkout.callback_url, checkout.reference),
            reference=checkout.reference,
            description=checkout.description,
        )

    async def _push(self, body: dict[str, Any]) -> PaymentResult:
        """One push; it may outlive the caller's wait (create_payment) by a few timeouts."""
        reference = str(body["AccountReference"])
        _, data = await self._daraja.post("/mpesa/stkpush/v1/processrequest", body, patience=3)
        if text_field(data.get("ResponseCode")) != "0":
            text = str(data.get("ResponseDescription", ""))[:120]
            raise GatewayRejected(self.name, f"stk push refused: {self._daraja.scrub(text)}")
        checkout_id = text_field(data.get("CheckoutRequestID"), blank_is_none=True)
        if checkout_id is None:
            raise GatewayUnavailable(self.name, "stk push: answer without CheckoutRequestID")
        prompt = Instructions(MethodKind.USSD, phone=wire.shown_phone(str(body["PhoneNumber"])))
        return PaymentResult(
            reference, checkout_id, S.PENDING, instructions=prompt, raw_status="0", raw=data
        )

    def _forget_old_pushes(self) -> None:
        now = time.monotonic()
        old = [r for r, (t, at) in self._pushes.items() if t.done() and now - at > PUSH_MEMORY]
        for reference in old:
            del self._pushes[reference]

    def _result(
        self,
        data: Mapping[str, Any],
        unreadable: type[CallbackUnreadable] | type[GatewayUnavailable],
        *,
        reference: str | None = None,
    ) -> PaymentResult:
        """A callback's stkCallback or a query's answer: both carry ResultCode and the id."""
        code = wire.result_code(data.get("ResultCode"))
        if code is None:
            raise unreadable(self.name, "no ResultCode")
        status = to_status(code)
        desc = text_field(data.get("ResultDesc"), blank_is_none=True)
        reason = None if status is S.PAID else REASONS.get(code) or (desc or "")[:120] or None
        return PaymentResult(
            reference=reference,
            external_id=text_field(data.get("CheckoutRequestID"), blank_is_none=True),
            status=status,
            currency="KES",
            reason=reason,
            raw_status=code,
            raw=data,
        )


def _worth_retrying(task: asyncio.Task[PaymentResult]) -> bool:
    """A push that ended without an answer (429, 5xx, transport) may be sent again."""
    return task.done() and (task.cancelled() or task.exception() is not None)


def _retrieve(task: asyncio.Task[PaymentResult]) -> None:
    """Mark a push's error as seen: its caller may have stopped waiting for it."""
    if not task.cancelled():
        task.exception()
