"""Composition root: create_app(config) wires storage, gateways, routes and background work.

Everything with a lifetime lives in a cleanup context, so tests and `checkout-bot run` start
and stop the same way.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bot import api, metrics, notify
from bot.access_log import quiet_malformed_requests
from bot.catalog_cache import CatalogCache
from bot.catalog_sync import sync_catalog
from bot.config import Config
from bot.gateways import build_gateways, sandbox_provider
from bot.metrics import healthz
from bot.scheduler import policy, scheduler
from payments.attempts import cancel_at_gateways, start_payment
from payments.base import Gateway, MethodId
from payments.batcher import ApplyBatcher, PaymentFinder
from payments.callbacks import route as callback_web
from payments.callbacks.refused import RefusedCallbacks
from payments.gateways.sandbox import SandboxProvider
from payments.orders import OrderError, Shop
from payments.ports import PaymentRow, Recipient
from storage.db import Sessions, is_sqlite, make_engine, make_sessions, transaction, upgrade
from storage.repo import SqlStore, store_transaction

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The live parts of one running app, for routes, background jobs and tests."""

    config: Config
    clock: Callable[[], datetime] = utcnow
    sessions: Sessions | None = None
    read_sessions: Sessions | None = None  # SQLite: readers that never wait for the writer
    http: aiohttp.ClientSession | None = None
    gateways: dict[str, Gateway] = field(default_factory=dict)
    sandbox: SandboxProvider | None = None
    batcher: ApplyBatcher | None = None
    finder: PaymentFinder | None = None
    refused: RefusedCallbacks | None = None
    # Set by the scheduler's context. Ask a gateway about one payment now (rate-limited per
    # payment); and have the poller look at a returning customer's open payments soon.
    check_status: Callable[[int], Awaitable[Any]] | None = None
    customer_back: Callable[[int], Awaitable[Any]] | None = None
    catalog: CatalogCache = field(default_factory=CatalogCache)  # what the chat sells

    def uow(self) -> AbstractAsyncContextManager[SqlStore]:
        assert self.sessions is not None, "database not started"
        return store_transaction(self.sessions)

    def read_uow(self) -> AbstractAsyncContextManager[SqlStore]:
        assert self.read_sessions is not None, "database not started"
        return store_transaction(self.read_sessions)

    @property
    def shop(self) -> Shop:
        return shop_rules(self.config)

    def callback_url(self, gateway: str) -> str:
        return f"{self.config.server.public_url}/callbacks/{gateway}"

    async def start_payment(self, order_code: str, method: MethodId) -> PaymentRow:
        """Start (or reuse) a payment attempt with an enabled method of this shop."""
        section = self.config.payments.enabled().get(method.gateway)
        gateway = self.gateways.get(method.gateway)
        if section is None or gateway is None or method.local not in section.methods:
            raise OrderError("method_unavailable", f"{method} is not offered by this shop.")
        return await start_payment(
            self.uow,
            self.shop,
            gateway,
            order_code,
            method,
            expiry=timedelta(seconds=section.expiry),
            callback_url=self.callback_url(method.gateway),
            return_url=f"{self.config.server.public_url}/return",
            first_check=policy(self.config.reconcile).schedules[method.kind].first,
            now=self.clock(),
        )

    async def cancel_at_gateways(self, attempts: Iterable[PaymentRow]) -> None:
        """After a cancel is committed: the attempts it took with it, at their gateways."""
        await cancel_at_gateways(self.uow, self.shop, self.gateways, attempts, now=self.clock())


RUNTIME = web.AppKey("runtime", Runtime)


def shop_rules(config: Config) -> Shop:
    merchants = tuple(Recipient("telegram", str(c)) for c in config.telegram.merchant_chat_ids)
    merchants += tuple(Recipient("whatsapp", n) for n in config.whatsapp.merchant_numbers)
    return Shop(
        currency=config.shop.currency,
        shipping_fee=config.shop.shipping_fee,
        order_expiry=timedelta(seconds=config.shop.order_expiry),
        merchants=merchants,
    )


def create_app(config: Config, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    quiet_malformed_requests()
    runtime = Runtime(config, clock)
    app[RUNTIME] = runtime
    app.cleanup_ctx.extend([database, http_session, gateways, callback_writer, scheduler])
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
        ),
    )
    api.add_routes(app, runtime)
    if config.payments.sandbox.enabled:
        runtime.sandbox = sandbox_provider(config)
        runtime.sandbox.add_routes(app, "/sandbox")
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/return", returned)
    if config.telegram.enabled:
        from bot.channels import telegram  # it imports the dispatcher, which imports this module

        telegram.install(app, runtime)  # its cleanup context and POST /telegram/webhook
    notify.install(app, runtime)  # the outbox worker, last: it stops first
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
