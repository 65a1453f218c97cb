"""The one place a payment's status is asked of its gateway, whoever asks.

Three paths ask: "check status" from the chat or the API (payments/reconcile/poller.py,
check_now), the poller's own schedule (payments/reconcile/checks.py) and the callback route
confirming what a callback claims (payments/callbacks/route.py). They all come through
`query_status` with their `source`, so counting status queries by gateway, source and
outcome is one change here.
"""

from __future__ import annotations

from typing import Final, Literal

from payments.base import Gateway, PaymentRef, PaymentResult

Source = Literal["check-status", "poller", "callback"]
CHECK_STATUS: Final = "check-status"
POLLER: Final = "poller"
CALLBACK: Final = "callback"


async def query_status(gateway: Gateway, ref: PaymentRef, *, source: Source) -> PaymentResult:
    """`gateway.fetch_status(ref)`; its errors (GatewayUnavailable, GatewayRejected) pass."""
    return await gateway.fetch_status(ref)
