"""The poller's throttle towards a gateway in trouble, and the alert when callbacks stop."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from payments.reconcile.sweeps import OUTAGE_ALERT, alert_missing_callbacks
from payments.reconcile.throttle import CircuitState
from storage.models import Outbox
from tests.conftest import status_queries
from tests.integration.test_reconcile import Harness, late_callback, open_shop


async def confirm_by_poller(h: Harness, chats: range) -> None:
    payments = [await h.start(chat_id=str(chat)) for chat in chats]
    for payment in payments:
        h.pay(payment.reference)
    await h.run_until_idle(until=h.clock() + timedelta(minutes=2))
    for payment in payments:
        assert await h.status(payment.id) == "paid"


async def alerts(h: Harness) -> list[Any]:
    return await h.rows(select(Outbox.address, Outbox.payload).where(Outbox.kind == OUTAGE_ALERT))


async def test_merchants_hear_once_in_6_hours_that_a_gateways_callbacks_stopped(
    aiohttp_server: Any, db_url: str
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    check = (h.poller.ctx, h.runtime.callback_url)
    await confirm_by_poller(h, range(1, 3))
    assert await alert_missing_callbacks(*check) == []  # two are not yet a pattern
    await confirm_by_poller(h, range(3, 4))
    assert await alert_missing_callbacks(*check) == ["sandbox"]
    assert await alert_missing_callbacks(*check) == []
    [(merchant, payload)] = await alerts(h)
    assert merchant == "9001" and payload["gateway"] == "sandbox"
    assert payload["paid_by_query"] == 3 and h.runtime.callback_url("sandbox") in payload["text"]
    h.clock.advance(hours=5)
    await confirm_by_poller(h, range(4, 7))
    assert await alert_missing_callbacks(*check) == []  # still within 6 hours of the first
    h.clock.advance(hours=1, minutes=1)
    await confirm_by_poller(h, range(7, 10))
    assert await alert_missing_callbacks(*check) == ["sandbox"]
    assert len(await alerts(h)) == 2


async def test_no_outage_alert_while_callbacks_still_arrive(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    await confirm_by_poller(h, range(1, 4))
    late = await h.start(chat_id="4")
    h.pay(late.reference)
    assert await late_callback(h, http, late.reference) == 200
    assert await alert_missing_callbacks(h.poller.ctx, h.runtime.callback_url) == []
    assert await alerts(h) == []


async def test_a_failing_gateway_is_paused_after_5_failures_probed_later_and_resumed(
    aiohttp_server: Any, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = await open_shop(aiohttp_server, db_url, reconcile={"gateway_concurrency": 1})
    gateway = h.counting()
    gateway.down = True
    payments = [await h.start(chat_id=str(chat)) for chat in range(8)]
    throttle = h.poller.ctx.throttle
    with caplog.at_level(logging.WARNING, logger="payments.reconcile.throttle"):
        while throttle.circuit("sandbox") is not CircuitState.OPEN:
            await h.run_until_idle(until=h.clock())
            h.clock.advance(seconds=1)
    assert sum(gateway.queries.values()) == 5
    assert "circuit open" in caplog.text
    h.clock.advance(seconds=30)
    await h.run_until_idle(until=h.clock())  # due, but handed back without a query
    assert sum(gateway.queries.values()) == 5
    assert (await status_queries(h.running))[("sandbox", "poller", "unavailable")] == 5
    gateway.down = False
    for payment in payments:
        h.pay(payment.reference)
    await h.run_until_idle(until=h.clock() + timedelta(minutes=5))
    assert [await h.status(p.id) for p in payments] == ["paid"] * 8
    assert throttle.circuit("sandbox") is CircuitState.CLOSED
    counts = h.poller.ctx.counts
    assert counts["circuit_opened:sandbox"] == 1 and counts["circuit_closed:sandbox"] == 1


async def test_a_gateways_rate_limit_holds_queries_back_without_losing_any(
    aiohttp_server: Any, db_url: str
) -> None:
    one_per_10s = {"rate_limits": {"sandbox": 6}}
    h = await open_shop(aiohttp_server, db_url, reconcile=one_per_10s)
    gateway = h.counting()
    payments = [await h.start(chat_id=str(chat)) for chat in range(3)]
    for payment in payments:
        h.pay(payment.reference)
    h.clock.advance(seconds=31)
    await h.poller.run_due()
    assert sum(gateway.queries.values()) == 1
    await h.run_until_idle(until=h.clock() + timedelta(minutes=2))
    assert [await h.status(p.id) for p in payments] == ["paid"] * 3
    assert sorted(gateway.queries.values()) == [1, 1, 1]
    assert h.poller.ctx.counts["deferred:rate limit"] >= 2
