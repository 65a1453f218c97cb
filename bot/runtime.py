"""What routes, channels and background jobs share: the Runtime of one app and the app keys.

bot/app.py builds it and everything else reads it, so nothing needs to import the
composition root back (tests/unit/test_imports.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Protocol

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.catalog.cache import CatalogCache
from bot.channels import Channel
from bot.config import Config
from bot.instruments import Metrics
from bot.notify.sender import Sender
from bot.policy import policy
from bot.startup import callback_url
from payments.attempts import cancel_at_gateways, start_payment
from payments.base import Gateway, MethodId
from payments.batcher import ApplyBatcher, PaymentFinder
from payments.callbacks.refused import RefusedCallbacks
from payments.gateways.sandbox import SandboxProvider
from payments.orders import OrderError, Shop
from payments.ports import PaymentRow, Recipient
from payments.reconcile.poller import Reconciler, StatusCheck
from storage.db import Sessions
from storage.repo import SqlStore, store_transaction


def utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox(Protocol):
    """What the channels see of the outbox worker (bot/notify/worker.py)."""

    def register(self, sender: Sender) -> None: ...

    def unregister(self, channel: str) -> None: ...

    async def flush(self) -> None: ...


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
    # Set by the scheduler's context (bot/scheduler.py). Ask a gateway about one payment now
    # (rate-limited per payment); and have the poller look at a returning customer's open
    # payments soon.
    check_status: Callable[[int], Awaitable[StatusCheck]] | None = None
    customer_back: Callable[[int], Awaitable[int]] | None = None
    reconciler: Reconciler | None = None
    jobs: AsyncIOScheduler | None = None  # None while `[reconcile] enabled = false`
    catalog: CatalogCache = field(default_factory=CatalogCache)  # what the chat sells
    metrics: Metrics = field(default_factory=Metrics)  # served by bot/metrics.py
    outbox: Outbox | None = None  # set by bot/notify/worker.py install()
    # Written into the leases this instance takes; bot/instance.py keeps its heartbeat.
    instance_id: str | None = None

    def uow(self) -> AbstractAsyncContextManager[SqlStore]:
        assert self.sessions is not None, "database not started"
        return store_transaction(self.sessions)

    def read_uow(self) -> AbstractAsyncContextManager[SqlStore]:
        assert self.read_sessions is not None, "database not started"
        return store_transaction(self.read_sessions)

    @cached_property
    def shop(self) -> Shop:
        """Read on every chat event (is this a merchant?) and order: built once, the config
        being frozen."""
        return shop_rules(self.config)

    @property
    def scheduler_running(self) -> bool:
        return self.jobs is not None and self.jobs.running

    def callback_url(self, gateway: str) -> str:
        return callback_url(self.config, gateway)

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


def shop_rules(config: Config) -> Shop:
    merchants = tuple(
        Recipient(Channel.TELEGRAM, str(c)) for c in config.telegram.merchant_chat_ids
    )
    merchants += tuple(Recipient(Channel.WHATSAPP, n) for n in config.whatsapp.merchant_numbers)
    return Shop(
        currency=config.shop.currency,
        shipping_fee=config.shop.shipping_fee,
        order_expiry=timedelta(seconds=config.shop.order_expiry),
        merchants=merchants,
        receipts=config.email.enabled,
    )


RUNTIME = web.AppKey("runtime", Runtime)
METRICS = web.AppKey("metrics", Metrics)
