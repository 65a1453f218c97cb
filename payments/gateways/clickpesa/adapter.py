"""ClickPesa USSD push (Tanzanian mobile money). Docs: https://docs.clickpesa.com

The customer approves a PIN prompt on their phone; nothing here has a page or a number to pay
to. A webhook is a claim even where the account's checksum signs it (the checksum's place in
a webhook is UNCONFIRMED, see wire.py), so the callback route asks GET /payments/{reference}
before acting on any of them (confirm_paid_by_query). Every call needs a token that lives an
hour, and an account before KYC has 100 calls a day, tokens included: one token is cached and
shared by all requests, and fetched again only when it is old or ClickPesa answers 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
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
    Instructions,
    MethodId,
    MethodKind,
    PaymentError,
    PaymentRef,
    PaymentResult,
    PaymentStatus,
    PhoneNotAccepted,
)
from payments.gateways.clickpesa import wire
from payments.gateways.http import retry_after
from payments.gateways.parsing import json_object, text_field

log = logging.getLogger(__name__)
S = PaymentStatus

# Every collection status ClickPesa documents. A prompt that is ignored or refused ends FAILED
# with a message; there is no expired or cancelled. Unknown values read as PENDING (to_status).
STATUS_MAP: Final[Mapping[str, PaymentStatus]] = {
    "PENDING": S.PENDING,
    "PROCESSING": S.PROCESSING,
    "SUCCESS": S.PAID,
    "SETTLED": S.PAID,
    "FAILED": S.FAILED,
    "ON-HOLD": S.PROCESSING,  # ClickPesa wants the merchant to act: see ON_HOLD_ALERT
}
ON_HOLD_ALERT: Final = "ClickPesa holds this payment (ON-HOLD): act on it in the dashboard"
# What a webhook's event says, for one that carries no `data.status`.
EVENTS: Final[Mapping[str, str]] = {"PAYMENT RECEIVED": "SUCCESS", "PAYMENT FAILED": "FAILED"}
# Where the checksum may travel in a webhook: the body first (what the docs' steps read),
# then the headers two public integrations read. UNCONFIRMED which one ClickPesa uses.
CHECKSUM_HEADERS: Final = ("x-clickpesa-signature", "x-clickpesa-checksum")
TOKEN_LIFE: Final = 55 * 60.0  # ClickPesa's token lives an hour; take no chance at the end
PREVIEW: Final = "/payments/preview-ussd-push-request"
INITIATE: Final = "/payments/initiate-ussd-push-request"
Unreadable = type[CallbackUnreadable] | type[GatewayUnavailable]


def to_status(raw: str) -> PaymentStatus:
    """ClickPesa's status word in our words; unknown reads as PENDING."""
    status = STATUS_MAP.get(raw.upper())
    if status is None:
        log.warning("clickpesa: unmapped status %r, treating as pending", raw[:40])
        return S.PENDING
    return status


class ClickPesaGateway:
    """One ClickPesa application: client id and API key for the token, an optional checksum."""

    name: ClassVar[str] = "clickpesa"
    confirm_paid_by_query: ClassVar[bool] = True  # always re-query before acting

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        client_id: str,
        api_key: str,
        checksum_key: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http, self._base = http, base_url.rstrip("/")
        self._id, self._key, self._sum_key = client_id, api_key, checksum_key
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:  # the default one would show the key in tracebacks
        return f"ClickPesaGateway(base_url={self._base!r})"

    def supports(self, method: MethodId) -> bool:
        return method.gateway == self.name and method.local in wire.METHODS

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """Preview (is the customer's network up?), then send the prompt. A reference is
        used once at ClickPesa (409 again): a retry after a lost answer reads what the first
        try started instead of prompting twice."""
        self._check(checkout)
        number = wire.msisdn(checkout.customer.phone)
        if number is None:
            raise PhoneNotAccepted(self.name, wire.COUNTRY)
        body = wire.push_body(checkout, wire.wire_phone(number))
        _, preview = await self._request("POST", PREVIEW, body)
        self._check_preview(preview, checkout.reference)
        code, data = await self._request("POST", INITIATE, body, accept=frozenset({409}))
        how = Instructions(MethodKind.USSD, phone=wire.shown_phone(number))
        if code == 409:
            log.info("clickpesa: payment=%s was sent before, reading it", checkout.reference)
            ref = PaymentRef(checkout.reference, None, checkout.method)
            found = await self.fetch_status(ref)
            return replace(found, instructions=how)
        if not isinstance(data, dict):
            raise GatewayUnavailable(self.name, "initiate: unreadable answer")
        result = self._result(data, GatewayUnavailable)
        return replace(result, instructions=how)

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult:
        """GET /payments/{orderReference}, a list. 404 while ClickPesa does not know the push
        (yet): pending. Of several entries, a paid one wins, else the latest."""
        path = f"/payments/{quote(ref.reference, safe='')}"
        code, data = await self._request("GET", path, accept=frozenset({404}))
        items = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
        if code == 404 or not items:
            return PaymentResult(ref.reference, None, S.PENDING)
        ours = [i for i in items if i.get("orderReference") == ref.reference] or items[:1]
        return self._result(max(ours, key=_rank), GatewayUnavailable)

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """A prompt cannot be withdrawn at ClickPesa: say where it stands, so that money that
        came in meanwhile still counts (payments/attempts.py cancel_at_gateways)."""
        return await self.fetch_status(ref)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """Verify the checksum where the account has one, then read either envelope spelling.
        Without a checksum key the result is unverified: only the status query counts."""
        try:
            envelope = json_object(body, parse_float=Decimal)  # money never passes through float
        except ValueError:
            raise CallbackUnreadable(self.name, "body is not a JSON object") from None
        verified = False
        if self._sum_key:
            self._verify(headers, envelope)
            verified = True
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise CallbackUnreadable(self.name, "no data object")
        implied = EVENTS.get(wire.event_name(envelope) or "")
        if not isinstance(data.get("status"), str) and implied:
            data = {**data, "status": implied}
        result = self._result(data, CallbackUnreadable)
        if result.reference is None:
            raise CallbackUnreadable(self.name, "no orderReference")
        return replace(result, verified=verified)

    def _verify(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> None:
        given = envelope.get("checksum")
        if not isinstance(given, str):
            given = next((v for k, v in headers.items() if k.lower() in CHECKSUM_HEADERS), "")
        try:
            good = bool(given) and wire.checksum_matches(envelope, given, self._sum_key)
        except ValueError:  # nested too deeply to serialize: nobody signed that
            good = False
        if not good:
            raise CallbackRejected(self.name, "checksum missing or wrong")

    def _check(self, checkout: Checkout) -> None:
        """Refuse what we cannot ask ClickPesa for before asking: a bug on our side."""
        fits = self.supports(checkout.method) and checkout.currency == "TZS"
        if not fits or checkout.amount < 1 or not wire.good_reference(checkout.reference):
            detail = f"cannot take {checkout.amount} {checkout.currency} by {checkout.method}"
            raise GatewayRejected(self.name, f"{detail}: whole TZS by ussd, alphanumeric refs")

    def _check_preview(self, preview: Any, reference: str) -> None:
        """Stop before the prompt when no network of the customer's can take the payment."""
        methods = preview.get("activeMethods") if isinstance(preview, dict) else None
        if not isinstance(methods, list):
            return  # nothing said: let initiate decide
        if not any(isinstance(m, dict) and m.get("status") == "AVAILABLE" for m in methods):
            names = [str(m.get("name"))[:20] for m in methods if isinstance(m, dict)]
            raise GatewayRejected(self.name, f"payment={reference}: no network available {names}")

    def _result(self, data: Mapping[str, Any], unreadable: Unreadable) -> PaymentResult:
        raw = data.get("status")
        if not isinstance(raw, str):
            raise unreadable(self.name, "no status")
        status = to_status(raw)
        amount = wire.amount_field(data)
        shillings = wire.shillings(amount) if amount is not None else None
        if amount is not None and shillings is None:
            raise unreadable(self.name, f"amount not whole shillings: {amount!r:.40}")
        failed = status is S.FAILED
        return PaymentResult(
            reference=text_field(data.get("orderReference"), blank_is_none=True),
            external_id=wire.id_field(data),
            status=status,
            amount=shillings,
            currency=wire.currency_field(data),
            reason=text_field(data.get("message"), blank_is_none=True) if failed else None,
            raw_status=raw,
            raw=data,
            alert=ON_HOLD_ALERT if raw.upper() == "ON-HOLD" else None,
        )

    async def _bearer(self, stale: str | None = None) -> str:
        """The shared token: fetched once for all waiting callers, again when old or refused."""
        async with self._token_lock:
            fresh = self._token is not None and self._token != stale
            if fresh and self._clock() < self._token_until:
                assert self._token is not None
                return self._token
            started = self._clock()
            headers = {"client-id": self._id, "api-key": self._key}
            code, data, _ = await self._call("POST", "/generate-token", None, headers)
            token = data.get("token") if isinstance(data, dict) else None
            if code != 200 or not isinstance(token, str) or not token.strip():
                raise self._refused(code, data, "POST /generate-token")
            # ClickPesa's token already starts with "Bearer "; add it only where it does not.
            self._token = token if token.startswith("Bearer ") else f"Bearer {token}"
            self._token_until = started + TOKEN_LIFE
            return self._token

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[int, Any]:
        """One call with the shared token; a 401 gets one new token and one more try."""
        what = f"{method} {path}"
        sent = wire.signed(body, self._sum_key) if body is not None else None
        token = await self._bearer()
        code, data, retry = await self._call(method, path, sent, {"Authorization": token})
        if code == 401:
            log.info("clickpesa: token refused, fetching a new one")
            token = await self._bearer(stale=token)
            code, data, retry = await self._call(method, path, sent, {"Authorization": token})
        if code == 429 or code >= 500:
            raise GatewayUnavailable(self.name, f"{what}: {code}", retry_after(retry))
        if code in accept:
            return code, data
        if code >= 400:
            raise self._refused(code, data, what)
        if not isinstance(data, dict | list):
            raise GatewayUnavailable(self.name, f"{what}: unreadable answer (HTTP {code})")
        return code, data

    async def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None, headers: Mapping[str, str]
    ) -> tuple[int, Any, str]:
        """Transport trouble becomes GatewayUnavailable, never with a header in its text."""
        try:
            async with self._http.request(
                method,
                self._base + path,
                json=body,
                headers={"Accept": "application/json", **headers},
                timeout=self._timeout,
                raise_for_status=False,
            ) as resp:
                raw, code = await resp.read(), resp.status
                retry = resp.headers.get("Retry-After", "")
        except (TimeoutError, aiohttp.ClientError) as exc:  # not chained: aiohttp keeps headers
            raise GatewayUnavailable(self.name, f"{method} {path}: {type(exc).__name__}") from None
        return code, _json(raw), retry

    def _refused(self, code: int, data: Any, what: str) -> PaymentError:
        if code == 429 or code >= 500:
            return GatewayUnavailable(self.name, f"{what}: {code}")
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        for secret in (self._id, self._key, self._sum_key, self._token or ""):
            if secret:
                message = message.replace(secret, "***")
        return GatewayRejected(self.name, f"{what}: {code} {message[:200]}".rstrip())


def _rank(item: Mapping[str, Any]) -> tuple[bool, str]:
    raw = item.get("status")
    paid = isinstance(raw, str) and STATUS_MAP.get(raw.upper()) is S.PAID
    when = item.get("updatedAt") or item.get("createdAt")
    return paid, when if isinstance(when, str) else ""


def _json(raw: bytes) -> Any:
    """The answer as JSON (the status answer is a list); None if unreadable."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
