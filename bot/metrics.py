"""Operations: `GET /metrics` (Prometheus) and `GET /healthz`.

Each app has its own CollectorRegistry, so that several apps in one process (the tests) keep
their counts apart. Counters count what this process did; the gauges of payments by status
and of the outbox's depth are read from the database at scrape time, so every instance reports
the same shared numbers: aggregate those with max(), not sum().

Where the counters count: chat updates by channel in bot/dispatch/answer.py (every
channel's events pass there), failed outbox sends by channel in bot/notify/worker.py, status
queries in bot/api/routes.py, callbacks and refused callbacks through the hooks below. The
instruments are the runtime's (bot/instruments.py); `chat_update(app, channel)` and its
siblings are the same counts for code holding only the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.instruments import Metrics
from bot.runtime import METRICS, RUNTIME
from payments.base import PaymentStatus
from payments.orders import MESSAGE_CHANNELS
from storage.db import Sessions
from storage.models import Outbox, Payment

log = logging.getLogger(__name__)
HEALTH_TIMEOUT: Final = 5.0  # seconds for the database to answer SELECT 1


def install(app: web.Application) -> Metrics:
    """The runtime's instruments under app[METRICS], and GET /metrics."""
    metrics = app[METRICS] = app[RUNTIME].metrics
    app.router.add_get("/metrics", scrape)
    return metrics


def on_callback(app: web.Application, known: Mapping[str, Any]) -> Callable[[str, str], None]:
    """The callback route's hook; a gateway not configured counts as "unknown", so that
    made-up names in URLs cannot grow the number of series."""
    counter = app[METRICS].callbacks
    children: dict[tuple[str, str], Any] = {}  # labels() takes a lock and builds a key per call

    def count(gateway: str, result: str) -> None:
        key = (gateway if gateway in known else "unknown", result)
        child = children.get(key)
        if child is None:
            child = children[key] = counter.labels(*key)
        child.inc()

    return count


def on_refused(app: web.Application) -> Callable[[str], None]:
    """payments/callbacks/refused.py's hook: refused callbacks kept, repeated (same body, same
    minute) or dropped (its buffer was full)."""
    counter = app[METRICS].refused_callbacks
    children = {outcome: counter.labels(outcome) for outcome in ("kept", "repeat", "dropped")}
    return lambda outcome: children[outcome].inc()


def chat_update(app: web.Application, channel: str) -> None:
    app[METRICS].chat_updates.labels(channel).inc()


def outbox_send_failed(app: web.Application, channel: str) -> None:
    app[METRICS].outbox_send_failures.labels(channel).inc()


def on_status_query(app: web.Application) -> Callable[[str, str, str], None]:
    """payments/status_query.py's hook: one count per question put to a gateway."""
    counter = app[METRICS].status_queries
    return lambda gateway, source, outcome: counter.labels(gateway, source, outcome).inc()


async def scrape(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        await _read_gauges(metrics, _sessions(request.app))
    except (DBAPIError, OSError, TimeoutError) as exc:  # the counters are still worth serving
        log.warning("metrics: database gauges unavailable (%s)", type(exc).__name__)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _sessions(app: web.Application) -> Sessions:
    sessions = app[RUNTIME].read_sessions
    assert sessions is not None, "database not started"
    return sessions


async def _read_gauges(metrics: Metrics, sessions: Sessions) -> None:
    async with sessions() as session:
        payments = dict.fromkeys(map(str, PaymentStatus), 0)
        rows = await session.execute(select(Payment.status, func.count()).group_by(Payment.status))
        payments.update({status: n for status, n in rows.tuples()})
        depth = dict.fromkeys(sorted(map(str, MESSAGE_CHANNELS)), 0)
        rows = await session.execute(
            select(Outbox.channel, func.count())
            .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
            .group_by(Outbox.channel)
        )
        depth.update({channel: n for channel, n in rows.tuples()})
    for status, n in payments.items():
        metrics.payments.labels(status).set(n)
    for channel, n in depth.items():
        metrics.outbox_depth.labels(channel).set(n)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers and the scheduler runs (or is switched off); else 503."""
    runtime = request.app[RUNTIME]
    database = await _database(runtime.sessions)
    if runtime.scheduler_running:
        scheduler = "running"
    else:
        scheduler = "stopped" if runtime.config.reconcile.enabled else "off"
    healthy = database == "ok" and scheduler != "stopped"
    body = {"status": "ok" if healthy else "unhealthy", "database": database}
    return web.json_response({**body, "scheduler": scheduler}, status=200 if healthy else 503)


async def _database(sessions: Sessions | None) -> str:
    if sessions is None:
        return "not started"
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any reason at all means unhealthy; the name says which
        return f"unreachable ({type(exc).__name__})"
    return "ok"
