"""The payment core: canonical statuses, the transition table, and the gateway protocol.

Everything that talks to a gateway speaks these types, so that the callback route, the poller
and the "check status" button all feed one state machine. No I/O and no framework imports here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Protocol


class PaymentStatus(StrEnum):
    """Canonical statuses; the per-gateway tables live in each gateway's file."""

    PENDING = "pending"  # the default: anything we are not sure about
    PROCESSING = "processing"  # customer acted, provider working, or under review
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    @property
    def is_final(self) -> bool:
        return self not in (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


S = PaymentStatus

# new status -> the statuses it may be entered from. One table serves every path.
# PAID is accepted after EXPIRED/FAILED/CANCELLED because the money was taken; the service
# flags such a payment for review. Nothing moves back to PENDING or PROCESSING from a final state.
ALLOWED_FROM: Final[Mapping[PaymentStatus, frozenset[PaymentStatus]]] = {
    S.PENDING: frozenset(),
    S.PROCESSING: frozenset({S.PENDING}),
    S.PAID: frozenset({S.PENDING, S.PROCESSING, S.EXPIRED, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset({S.PENDING, S.PROCESSING}),
    S.EXPIRED: frozenset({S.PENDING, S.PROCESSING}),
    S.CANCELLED: frozenset({S.PENDING, S.PROCESSING}),
    S.REFUNDED: frozenset({S.PAID}),
}

# Paid after one of these means money arrived for a payment we had given up on.
LATE_PAID_FROM: Final[frozenset[PaymentStatus]] = frozenset({S.EXPIRED, S.FAILED, S.CANCELLED})


def can_move(old: PaymentStatus, new: PaymentStatus) -> bool:
    return old in ALLOWED_FROM[new]


class MethodKind(StrEnum):
    VA = "va"
    QRIS = "qris"
    LINK = "link"
    USSD = "ussd"


_METHOD_RE: Final = re.compile(r"^([a-z][a-z0-9_]*):(va|qris|link|ussd)(?::([a-z][a-z0-9_]*))?$")


@dataclass(frozen=True, slots=True)
class MethodId:
    """`<gateway>:<kind>[:<channel>]`, e.g. `<gateway>:va:bca`, `<gateway>:link`."""

    gateway: str
    kind: MethodKind
    channel: str | None = None

    @classmethod
    def parse(cls, text: str) -> MethodId:
        match = _METHOD_RE.match(text.strip().lower())
        if match is None:
            raise ValueError(f"not a method id: {text!r} (want gateway:kind[:channel])")
        gateway, kind, channel = match.groups()
        if kind == "va" and channel is None:
            raise ValueError(f"a VA method needs a bank: {text!r} (e.g. {gateway}:va:bca)")
        return cls(gateway, MethodKind(kind), channel)

    @property
    def local(self) -> str:
        """The method as a gateway sees it, without its own name: `va:bca`, `qris`."""
        return f"{self.kind}:{self.channel}" if self.channel else str(self.kind)

    def __str__(self) -> str:
        return f"{self.gateway}:{self.local}"


@dataclass(frozen=True, slots=True)
class Instructions:
    """What the customer needs to pay, as data; each channel renders it in its own way.

    kind says which fields matter: va -> bank, number; qris -> qr_string; link -> url;
    ussd -> phone. Every kind may carry a url (a hosted page as a fallback).
    """

    kind: MethodKind
    bank: str | None = None
    number: str | None = None
    qr_string: str | None = None
    url: str | None = None
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Instructions:
        fields = {k: data.get(k) for k in ("bank", "number", "qr_string", "url", "phone")}
        return cls(kind=MethodKind(data["kind"]), **fields)


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    phone: str | None = None  # E.164
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Checkout:
    """One payment attempt as we ask a gateway to create it."""

    reference: str  # ours, unique per attempt; every gateway echoes it back
    amount: int  # ISO 4217 minor units; each gateway converts at its edge
    currency: str
    method: MethodId
    customer: Customer
    description: str
    expires_at: datetime  # aware, UTC
    callback_url: str  # where this gateway should post callbacks
    return_url: str | None = None  # where a hosted page sends the customer back


@dataclass(frozen=True, slots=True)
class PaymentRef:
    """What we know of an attempt when we ask about it again."""

    reference: str
    external_id: str | None
    method: MethodId


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """A gateway's answer, in our words. A decline is data, not an exception."""

    reference: str | None  # our reference as echoed by the gateway, when it is
    external_id: str | None
    status: PaymentStatus
    amount: int | None = None  # as reported, for the integrity check
    currency: str | None = None
    instructions: Instructions | None = None
    expires_at: datetime | None = None
    reason: str | None = None  # the provider's decline text, or why we flagged
    raw_status: str | None = None  # the provider's own word, for the event log
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # False for a callback that carried no signature to check (some gateways send
    # none): only a status query can confirm what it says.
    verified: bool = True
    # The gateway wants a person to act on this payment (its words): the merchant is told
    # once, whatever the status does (payments/rules.py).
    alert: str | None = None


def names_another_payment(
    answer: PaymentResult, reference: str, external_id: str | None
) -> str | None:
    """Why a gateway's answer is not about the payment with these ids, or None when it is.

    An answer is about a payment when it names the payment's own reference, or, naming none,
    the id the gateway gave the payment when it was created. Ids that arrived with a callback
    never count: a stranger's callback could pair our reference with another payment's id, and
    a status query by that id answers about the other payment.
    """
    ref, ext = answer.reference, answer.external_id
    if ref is not None:
        return None if ref == reference else f"the answer is about {ref[:40]!r}, not {reference}"
    if external_id is not None and ext == external_id:
        return None
    shown = f"only the gateway's id {ext[:40]!r}" if ext else "no payment"
    return f"the answer names {shown}, neither {reference} nor the id given at its creation"


class Gateway(Protocol):
    """One payment provider. Adapters take base_url and credentials as arguments."""

    name: ClassVar[str]
    # True where a callback cannot be trusted to say PAID on its own (the signature does not
    # cover the status, or is weak): the callback route confirms with fetch_status first.
    confirm_paid_by_query: ClassVar[bool]

    def supports(self, method: MethodId) -> bool: ...

    async def create_payment(self, checkout: Checkout) -> PaymentResult:
        """Create at the gateway, or return the existing payment for the same reference.

        A retry after an unknown outcome must never create a second payment.
        """
        ...

    async def fetch_status(self, ref: PaymentRef) -> PaymentResult: ...

    async def cancel_payment(self, ref: PaymentRef) -> PaymentResult | None:
        """Cancel where the gateway allows it; None where it has no such call."""
        ...

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """Verify, then read. Pure: raises CallbackRejected or CallbackUnreadable."""
        ...


class RefundStatus(StrEnum):
    """A refund's own life: asked of the gateway, then done or failed there."""

    REQUESTED = "requested"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RefundAsk:
    """One refund as we ask a gateway for it; `reference` is ours and new for every refund,
    so that asking again after an unknown outcome never refunds twice."""

    reference: str
    amount: int  # minor units, at most what is left of the payment
    currency: str
    reason: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    external_id: str | None = None
    reason: str | None = None  # the gateway's words when it refused
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


class Refunder(Protocol):
    """A gateway that can give money back by API. Gateways without one are refunded by hand
    by the merchant, and the bot records it (payments/refunds.py)."""

    async def refund_payment(self, ref: PaymentRef, ask: RefundAsk) -> RefundResult:
        """Idempotent by ask.reference. Raises GatewayUnavailable when the outcome is unknown
        (ask again later with the same reference) and GatewayRejected when refused."""
        ...


def refunder(gateway: Gateway) -> Refunder | None:
    """The gateway's refund call, or None where refunds are done by hand."""
    return gateway if callable(getattr(gateway, "refund_payment", None)) else None  # type: ignore[return-value]


def refund_reference(payment_reference: str, number: int) -> str:
    """Letters and digits only, like payment references: `A7K2Q901` + `R1`."""
    if not 1 <= number <= 99:
        raise ValueError(f"refund number out of range: {number}")
    return f"{payment_reference}R{number}"


class PaymentError(Exception):
    """Base of gateway errors; the text never holds a secret."""

    def __init__(self, gateway: str, detail: str) -> None:
        super().__init__(f"{gateway}: {detail}")
        self.gateway = gateway
        self.detail = detail


class GatewayUnavailable(PaymentError):
    """Outcome unknown (timeout, 5xx, 429). Poll later; retry with the same reference."""

    def __init__(self, gateway: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(gateway, detail)
        self.retry_after = retry_after


class GatewayRejected(PaymentError):
    """Our request or credentials are wrong (4xx). Retrying will not help: alert."""


class BelowMinimum(GatewayRejected):
    """The amount is under the gateway's smallest charge (`minimum`, in the shop's units):
    the customer is asked to choose another method."""

    def __init__(self, gateway: str, minimum: int, currency: str) -> None:
        super().__init__(gateway, f"below the smallest charge of {minimum} {currency}")
        self.minimum = minimum
        self.currency = currency


class PhoneNotAccepted(GatewayRejected):
    """The customer's phone is not a mobile number of the country where this gateway sends
    payment prompts (`country`, ISO 3166 alpha-2): the customer is asked for another method."""

    def __init__(self, gateway: str, country: str) -> None:
        super().__init__(gateway, f"the customer's phone is not a {country} mobile number")
        self.country = country


class CallbackRejected(PaymentError):
    """The callback is not authentic (bad signature or token). Answer 401."""


class CallbackUnreadable(PaymentError):
    """The callback cannot be read or lacks what we need. Answer 400."""


def payment_reference(order_code: str, attempt: int) -> str:
    """Letters and digits only (ClickPesa's rule is the strictest): `A7K2Q9` + `01`."""
    if not 1 <= attempt <= 99:
        raise ValueError(f"attempt out of range: {attempt}")
    return f"{order_code}{attempt:02d}"


def split_reference(reference: str) -> tuple[str, int] | None:
    """The order code and attempt in a reference, or None when it is not one of ours."""
    if len(reference) != 8 or not reference[6:].isdigit():
        return None
    return reference[:6], int(reference[6:])
