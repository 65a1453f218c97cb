"""What the simulated provider (server.py) holds and sends: its payments in its own words,
and a record of each callback it posted, which tests read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PENDING, PAID, FAILED, EXPIRED, CANCELLED = "PENDING", "PAID", "FAILED", "EXPIRED", "CANCELLED"
REFUNDED = "REFUNDED"


@dataclass(slots=True)
class SandboxPayment:
    """One simulated payment, in the provider's words; tests may read it."""

    id: str
    reference: str
    amount: int
    currency: str
    method: str
    expires_at: datetime
    callback_url: str
    created_at: datetime
    return_url: str | None = None
    instructions: dict[str, str] = field(default_factory=dict)
    status: str = PENDING
    paid_at: datetime | None = None
    failure_reason: str | None = None
    refunds: dict[str, SandboxRefund] = field(default_factory=dict)  # by our refund reference

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds.values())

    def callback_json(self) -> dict[str, Any]:
        body = {k: getattr(self, k) for k in ("reference", "id", "status", "amount", "currency")}
        body["method"] = self.method
        if self.paid_at is not None:
            body["paid_at"] = self.paid_at.isoformat()
        return body

    def to_json(self) -> dict[str, Any]:
        return self.callback_json() | {
            "instructions": self.instructions,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "failure_reason": self.failure_reason,
        }


@dataclass(frozen=True, slots=True)
class SandboxRefund:
    id: str
    reference: str
    amount: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "amount": self.amount,
            "status": "DONE",
        }


@dataclass(frozen=True, slots=True)
class SentCallback:
    """One callback POST as made, for tests to read; http_status is None when it never got one."""

    url: str
    body: bytes
    signature: str
    http_status: int | None
