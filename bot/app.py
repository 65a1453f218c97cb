"""Composition root: create_app(config) wires storage, gateways, routes and background work.

The only importer of the API, the channels, the outbox worker and the scheduler; what they
share is in bot/runtime.py, so none of them imports this module back.

Everything with a lifetime lives in a cleanup context, so tests and `checkout-bot run` start
and stop the same way.
"""

from __future__ import annotations

import html
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web

from bot import metrics
from bot.access_log import quiet_malformed_requests
from bot.api import routes as api
from bot.catalog.sync import sync_catalog
from bot.channels import CHANNELS
from bot.config import Config
from bot.gateways import build_gateways, sandbox_provider
from bot.instance import heartbeat
from bot.metrics import healthz
from bot.notify import worker as notify
from bot.request_id import request_id
from bot.runtime import RUNTIME, Runtime, utcnow
from bot.scheduler import scheduler
from bot.server import read_body_in_time
from payments.batcher import ApplyBatcher, PaymentFinder
from payments.callbacks import route as callback_web
from payments.callbacks.refused import RefusedCallbacks
from storage.db import TRANSIENT, is_sqlite, make_engine, make_sessions, transaction, upgrade

log = logging.getLogger(__name__)


MAX_BODY = 1024 * 1024  # every request body; the callback route and the API cut lower


def create_app(config: Config, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    quiet_malformed_requests()
    runtime = Runtime(config, clock)
    app[RUNTIME] = runtime
    app.cleanup_ctx.extend(
        [database, heartbeat, http_session, gateways, callback_writer, scheduler]
    )
    runtime.batcher = ApplyBatcher(runtime.uow, runtime.shop, clock)
    runtime.finder = PaymentFinder(runtime.read_uow)
    metrics.install(app)
    keep_for = timedelta(seconds=config.callbacks.keep_refused)
    runtime.refused = RefusedCallbacks(
        runtime.uow, clock, keep_for=keep_for, on_count=metrics.on_refused(app)
    )
    callback_web.add_routes(
        app,
        callback_web.Callbacks(
            runtime.uow,
            runtime.finder,
            runtime.batcher,
            runtime.gateways,
            clock,
            runtime.refused,
            on_result=metrics.on_callback(app, runtime.gateways),
            observe=metrics.on_status_query(app),
            transient=TRANSIENT,
        ),
    )
    api.add_routes(app, runtime)
    if config.payments.sandbox.enabled:
        runtime.sandbox = sandbox_provider(config)
        runtime.sandbox.add_routes(app, "/sandbox")
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/return", returned)
    for channel in CHANNELS:  # each decides from its config section whether it runs
        importlib.import_module(f"bot.channels.{channel}.install").install(app, runtime)
    notify.install(app, runtime)  # the outbox worker, last: it stops first
    app.middlewares.append(read_body_in_time(config.server.read_timeout, MAX_BODY))
    app.middlewares.insert(0, request_id)  # outermost: every answer carries it
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    url = runtime.config.database.url
    if is_sqlite(url):
        await upgrade(url)  # embedded default: no separate migration step
    engine = make_engine(url, pool_size=runtime.config.database.pool_size)
    reader = make_engine(url, pool_size=runtime.config.database.pool_size, readonly=True)
    runtime.sessions = make_sessions(engine)
    runtime.read_sessions = make_sessions(reader) if is_sqlite(url) else runtime.sessions
    async with transaction(runtime.sessions) as session:
        catalog = runtime.config.load_catalog()
        await sync_catalog(session, catalog, runtime.config.shop.currency, update_existing=False)
    yield
    await engine.dispose()
    await reader.dispose()


async def http_session(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        runtime.http = session
        if runtime.sandbox is not None:
            runtime.sandbox.http = session
        yield


async def gateways(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    assert runtime.http is not None
    runtime.gateways.update(build_gateways(runtime.config, runtime.http))
    yield
    if runtime.sandbox is not None:
        await runtime.sandbox.close()


async def callback_writer(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    if runtime.refused is not None:
        runtime.refused.start()
    yield
    for queue in (runtime.finder, runtime.batcher, runtime.refused):
        if queue is not None:
            await queue.close()  # what has queued is done before the database closes


async def returned(request: web.Request) -> web.Response:
    """Where a gateway's hosted page sends the customer back: the chat has the news."""
    name = request.app[RUNTIME].config.shop.name
    return web.Response(
        text=f"<!doctype html><meta charset=utf-8><title>{html.escape(name)}</title>"
        "<p>Thank you. You can go back to the chat: we confirm there as soon as the "
        "payment is in.</p><p>Terima kasih. Silakan kembali ke chat.</p>",
        content_type="text/html",
    )
