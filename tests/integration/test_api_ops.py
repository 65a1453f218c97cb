"""GET /healthz and GET /metrics on the whole app, and what the API answers while the
database is unreachable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bot import metrics
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Outbox
from tests.integration.apikit import ApiClient, api_config, start_api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def api(aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession) -> ApiClient:
    return await start_api(aiohttp_server, api_config(db_url), http)


@pytest.fixture
async def nowhere(tmp_path: Path) -> AsyncIterator[Sessions]:
    """Sessions on a database that cannot be opened: every query fails as a dead server does."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db", pool_size=1)
    yield make_sessions(engine)
    await engine.dispose()


async def scrape(api: ApiClient) -> Samples:
    async with api.http.get(api.running.url("/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def health(api: ApiClient) -> tuple[int, Any]:
    async with api.http.get(api.running.url("/healthz")) as response:
        return response.status, await response.json()


async def test_healthz_is_ok_while_the_database_answers_and_the_scheduler_runs(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url, poller=True), http)
    assert await health(api) == (200, {"status": "ok", "database": "ok", "scheduler": "running"})


async def test_healthz_is_ok_with_the_scheduler_switched_off_in_the_config(
    api: ApiClient,
) -> None:
    assert await health(api) == (200, {"status": "ok", "database": "ok", "scheduler": "off"})


async def test_healthz_and_the_api_answer_503_while_the_database_is_unreachable(
    api: ApiClient, nowhere: Sessions
) -> None:
    runtime = api.runtime
    writer, reader = runtime.sessions, runtime.read_sessions
    runtime.sessions = runtime.read_sessions = nowhere
    try:
        status, body = await health(api)
        orders = await api.call("GET", "/api/orders")
    finally:
        runtime.sessions, runtime.read_sessions = writer, reader
    assert status == 503 and body["status"] == "unhealthy"
    assert body["database"].startswith("unreachable (")
    assert orders.status == 503
    assert orders.body == {
        "error": {"code": "unavailable", "message": "Unavailable for a moment; try again."}
    }


async def test_metrics_count_callbacks_status_queries_and_read_payments_and_outbox_depth(
    api: ApiClient,
) -> None:
    order = await api.place()
    payment = await api.pay_with(order["code"])
    await api.call("POST", f"/api/payments/{payment['id']}/check-status")
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    async with api.http.post(api.running.url("/callbacks/made-up"), data=b"{}") as response:
        assert response.status == 404
    await api.call("POST", f"/api/payments/{payment['id']}/check-status")
    [(unsent,)] = await api.rows(
        select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None))
    )
    samples = await scrape(api)
    callbacks = "checkout_callbacks_total"
    assert samples[(callbacks, (("gateway", "sandbox"), ("result", "applied")))] == 1
    assert samples[(callbacks, (("gateway", "unknown"), ("result", "unknown_gateway")))] == 1
    asked = (("gateway", "sandbox"), ("outcome", "answered"), ("source", "check-status"))
    assert samples[("checkout_status_queries_total", asked)] == 1  # once paid: nothing to ask
    assert samples[("checkout_payments", (("status", "paid"),))] == 1
    assert samples[("checkout_payments", (("status", "pending"),))] == 0
    depth = sum(v for (name, _), v in samples.items() if name == "checkout_outbox_depth")
    assert depth == unsent >= 2  # payment_paid for the customer, order_paid for the merchant


async def test_other_parts_report_chat_updates_and_send_failures_through_small_functions(
    api: ApiClient,
) -> None:
    app = api.running.server.app
    metrics.chat_update(app, "telegram")
    metrics.chat_update(app, "telegram")
    metrics.outbox_send_failed(app, "whatsapp")
    samples = await scrape(api)
    assert samples[("checkout_chat_updates_total", (("channel", "telegram"),))] == 2
    assert samples[("checkout_outbox_send_failures_total", (("channel", "whatsapp"),))] == 1
