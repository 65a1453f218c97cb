"""What the poller needs from storage beyond payments/ports.py, as Protocols.

storage/reconcile_repo.py satisfies them. Claims are leases: a claimed payment's next_check_at
is pushed forward by the lease time, so another instance skips it until the check is written
back, or until the lease runs out when this instance dies mid-check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from payments.ports import Store


@dataclass(frozen=True, slots=True)
class DuePayment:
    """A live payment as the poller reads it."""

    id: int
    order_id: int
    gateway: str
    method: str
    reference: str
    external_id: str | None
    status: str
    created_at: datetime
    expires_at: datetime | None
    checked_at: datetime | None  # the last time anyone asked the gateway about it
    next_check_at: datetime | None  # after a claim: the end of the lease


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """One check to write back: when it was made, and the next one (None: stop asking).

    With the poller's `lease`, the next time is written only while the lease is still ours; a
    check without one ("check status") leaves the poller's plan alone unless it stops it.
    `asked` is False when the gateway could not be asked: then only the next time is written.
    """

    payment_id: int
    now: datetime
    next_check_at: datetime | None
    lease: datetime | None
    asked: bool = True


@dataclass(frozen=True, slots=True)
class CallbackCounts:
    """One gateway's confirmations in a recent window, by how they came."""

    gateway: str
    paid_by_query: int  # PAID applied from the poller, "check status" or an expiry check
    verified_callbacks: int
    rejected_callbacks: int


class ReconcileQueries(Protocol):
    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[DuePayment]: ...

    async def defer(self, moves: Sequence[tuple[int, datetime]], lease_until: datetime) -> None:
        """Hand claimed payments back for later, where the lease is still ours."""
        ...

    async def record_checks(self, records: Sequence[CheckRecord]) -> None: ...

    async def claim_check_now(
        self, payment_id: int, now: datetime, min_interval: timedelta
    ) -> DuePayment | None:
        """The payment, marked as asked about now; None when it was asked about too recently."""
        ...

    async def live_payment(self, payment_id: int) -> DuePayment | None: ...

    async def live_payments(self, after_id: int, limit: int) -> Sequence[DuePayment]: ...

    async def live_payment_ids_of_order(self, order_code: str) -> Sequence[int]: ...

    async def check_customer_soon(
        self, customer_id: int, now: datetime, min_interval: timedelta
    ) -> int: ...

    async def orders_to_expire(self, now: datetime, limit: int) -> Sequence[int]:
        """Unpaid orders past their expiry whose payments are all settled (or that have none)."""
        ...

    async def callback_counts(self, since: datetime) -> Sequence[CallbackCounts]: ...

    async def claim_alert(self, key: str, now: datetime, every: timedelta) -> bool:
        """True at most once per `every` per key, across instances."""
        ...


class ReconcileStore(Store, Protocol):
    @property
    def reconcile(self) -> ReconcileQueries: ...


ReconcileUnitOfWork = Callable[[], AbstractAsyncContextManager[ReconcileStore]]
