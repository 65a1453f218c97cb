"""The one place a payment's status is asked of its gateway, whoever asks.

Three paths ask: "check status" from the chat or the API (payments/reconcile/poller.py,
check_now), the poller's own schedule (payments/reconcile/checks.py) and the callback route
confirming what a callback claims (payments/callbacks/route.py). They all come through
`query_status` with their `source` and their context's `observe` hook, which bot/metrics.py
turns into `checkout_status_queries{gateway, source, outcome}`: one count per question put
to a gateway (a check that was not asked, too soon or paused, is no query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

from payments.base import Gateway, GatewayRejected, GatewayUnavailable, PaymentRef, PaymentResult

Source = Literal["check-status", "poller", "callback"]
CHECK_STATUS: Final = "check-status"
POLLER: Final = "poller"
CALLBACK: Final = "callback"
# (gateway, source, outcome): outcome is answered, unavailable (no answer: timeout, 5xx,
# rate limited) or rejected (the gateway refused the question)
Observe = Callable[[str, str, str], None]


async def query_status(
    gateway: Gateway, ref: PaymentRef, *, source: Source, observe: Observe | None = None
) -> PaymentResult:
    """`gateway.fetch_status(ref)`; its errors (GatewayUnavailable, GatewayRejected) pass.

    Anything else it raises (a cancellation at shutdown, a bug) is not counted: no outcome."""
    try:
        result = await gateway.fetch_status(ref)
    except GatewayUnavailable:
        _seen(observe, gateway, source, "unavailable")
        raise
    except GatewayRejected:
        _seen(observe, gateway, source, "rejected")
        raise
    _seen(observe, gateway, source, "answered")
    return result


def _seen(observe: Observe | None, gateway: Gateway, source: str, outcome: str) -> None:
    if observe is not None:
        observe(gateway.name, source, outcome)
