"""The poller's slower jobs: expiring unpaid orders, and telling merchants when a gateway's
callbacks have stopped arriving while the poller keeps finding paid payments."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from payments.orders import expire_order
from payments.reconcile.checks import ReconcileContext
from payments.reconcile.ports import CallbackCounts

log = logging.getLogger(__name__)
OUTAGE_ALERT = "gateway_callbacks_missing"


async def expire_orders(ctx: ReconcileContext, *, limit: int = 100) -> int:
    """Expire unpaid orders past their expiry and give their stock back; the customer is told.

    An order whose payment is still open waits for that payment's final check: the poller
    expires both then, so money that arrived in the last minutes is not missed.
    """
    now = ctx.clock()
    async with ctx.uow() as store:
        order_ids = await store.reconcile.orders_to_expire(now, limit)
    expired = 0
    for order_id in order_ids:
        async with ctx.uow() as store:
            expired += await expire_order(store, order_id)
    if expired:
        log.info("expired %d unpaid orders", expired)
    return expired


@dataclass(frozen=True, slots=True)
class OutageRules:
    window: timedelta = timedelta(minutes=60)
    min_paid_by_query: int = 3
    every: timedelta = timedelta(hours=6)  # at most one alert per gateway this often


async def alert_missing_callbacks(
    ctx: ReconcileContext,
    callback_url: Callable[[str], str],
    rules: OutageRules = OutageRules(),
) -> list[str]:
    """One alert to the merchants per gateway whose payments the poller confirms while no
    callback arrives; returns the gateways alerted about."""
    now = ctx.clock()
    alerted = []
    async with ctx.uow() as store:
        for counts in await store.reconcile.callback_counts(now - rules.window):
            if counts.paid_by_query < rules.min_paid_by_query or counts.verified_callbacks:
                continue
            key = f"callbacks_missing:{counts.gateway}"
            if not await store.reconcile.claim_alert(key, now, rules.every):
                continue
            payload = _alert(counts, rules, callback_url(counts.gateway))
            for to in ctx.shop.merchants:
                dedupe = f"alert:{key}:{now.isoformat()}:{to.channel}:{to.address}"
                await store.outbox.enqueue(to, OUTAGE_ALERT, payload, dedupe)
            log.warning(
                "gateway=%s callbacks are not arriving: %d payments confirmed by status "
                "queries in %s, none by callback (%d callbacks rejected)",
                counts.gateway,
                counts.paid_by_query,
                rules.window,
                counts.rejected_callbacks,
            )
            ctx.counts[f"outage_alert:{counts.gateway}"] += 1
            alerted.append(counts.gateway)
    return alerted


def _alert(counts: CallbackCounts, rules: OutageRules, url: str) -> dict[str, Any]:
    minutes = int(rules.window.total_seconds() // 60)
    checks = [
        f"the callback (notification) URL at {counts.gateway} is {url}",
        "that URL is reachable from the internet (HTTPS, no firewall or tunnel down)",
    ]
    if counts.rejected_callbacks:
        checks.append(
            f"{counts.rejected_callbacks} callbacks were refused as not authentic: "
            "check the signing key or token in config.toml"
        )
    return {
        "gateway": counts.gateway,
        "paid_by_query": counts.paid_by_query,
        "rejected_callbacks": counts.rejected_callbacks,
        "window_minutes": minutes,
        "callback_url": url,
        "checks": checks,
        "text": (
            f"{counts.gateway}: {counts.paid_by_query} payments in the last {minutes} min "
            "were confirmed by status checks, none by a callback: its callbacks are not "
            "arriving. Payments are still confirmed, more slowly. Check: " + "; ".join(checks)
        ),
    }
