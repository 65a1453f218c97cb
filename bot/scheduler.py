"""Background jobs on the app's event loop, run by APScheduler 3: the poller's tick every
second or so, the sweep that expires unpaid orders, and the callback-outage check.

`[reconcile] enabled = false` keeps the jobs off (tests that drive the poller by hand); the
reconciler is built either way, so "check status" works. The HTTP API reaches it through
`check_status(app, payment_id)`, the chat through `runtime.check_status(payment_id)` and
`runtime.customer_back(customer_id)`, which this context sets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from random import Random
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import RATE_LIMITS, Config, Reconcile
from payments.base import Gateway, MethodKind
from payments.reconcile.checks import ReconcileContext
from payments.reconcile.poller import (
    Limits,
    Reconciler,
    StatusCheck,
    check_customer_soon,
    check_now,
)
from payments.reconcile.ports import ReconcileUnitOfWork
from payments.reconcile.schedule import Policy, parse_schedule
from payments.reconcile.sweeps import OutageRules, alert_missing_callbacks, expire_orders
from payments.reconcile.throttle import Rules, Throttle
from storage.reconcile_repo import reconcile_transaction

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
OUTAGE_CHECK_EVERY = 60  # seconds
Job = Callable[[], Awaitable[object]]

_reconcilers: WeakKeyDictionary[web.Application, Reconciler] = WeakKeyDictionary()
_schedulers: WeakKeyDictionary[web.Application, AsyncIOScheduler] = WeakKeyDictionary()


def policy(cfg: Reconcile) -> Policy:
    texts = {MethodKind.USSD: cfg.ussd, MethodKind.VA: cfg.va}
    texts |= {MethodKind.QRIS: cfg.qris, MethodKind.LINK: cfg.link}
    return Policy(
        schedules={kind: parse_schedule(t) for kind, t in texts.items()},
        grace=timedelta(seconds=cfg.grace),
        jitter=cfg.jitter,
        reminder_before=timedelta(seconds=cfg.reminder_before),
        reminder_min_life=timedelta(seconds=cfg.reminder_min_life),
        no_prompt_after=timedelta(seconds=cfg.no_prompt_after),
        check_min_interval=timedelta(seconds=cfg.check_min_interval),
    )


def throttle(cfg: Reconcile, rnd: Random) -> Throttle:
    def rules(per_minute: float) -> Rules:
        return Rules(
            per_minute=per_minute,
            backoff_max=cfg.backoff_max,
            circuit_failures=cfg.circuit_failures,
            circuit_open=cfg.circuit_open,
            circuit_open_max=cfg.circuit_open_max,
        )

    limits = {**RATE_LIMITS, **cfg.rate_limits}
    return Throttle({g: rules(n) for g, n in limits.items()}, rules(cfg.default_rate_limit), rnd)


def make_context(
    config: Config,
    uow: ReconcileUnitOfWork,
    gateways: Mapping[str, Gateway],
    clock: Callable[[], datetime],
    rnd: Random | None = None,
) -> ReconcileContext:
    from bot.app import shop_rules  # bot.app imports this module

    rnd = rnd or Random()
    cfg = config.reconcile
    return ReconcileContext(
        uow, shop_rules(config), gateways, clock, policy(cfg), throttle(cfg, rnd), rnd
    )


def make_reconciler(config: Config, ctx: ReconcileContext) -> Reconciler:
    cfg = config.reconcile
    lease = timedelta(seconds=cfg.lease)
    limits = Limits(cfg.batch, cfg.concurrency, cfg.gateway_concurrency, lease)
    return Reconciler(ctx, limits)


async def scheduler(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: build the reconciler; start the jobs when enabled; stop both after."""
    from bot.app import RUNTIME  # bot.app imports this module

    runtime = app[RUNTIME]
    sessions = runtime.sessions
    assert sessions is not None, "the database context comes first"
    ctx = make_context(
        runtime.config, lambda: reconcile_transaction(sessions), runtime.gateways, runtime.clock
    )
    reconciler = make_reconciler(runtime.config, ctx)
    _reconcilers[app] = reconciler
    runtime.check_status = partial(check_now, ctx)
    runtime.customer_back = partial(check_customer_soon, ctx)
    jobs = _Jobs()
    if runtime.config.reconcile.enabled:
        _schedulers[app] = _start(runtime.config, reconciler, jobs, runtime.callback_url)
    try:
        yield
    finally:
        jobs.closing = True
        if (running := _schedulers.pop(app, None)) is not None:
            running.shutdown(wait=False)
        await jobs.wait()
        await reconciler.close()
        runtime.check_status = runtime.customer_back = None


def reconciler(app: web.Application) -> Reconciler:
    return _reconcilers[app]


def scheduler_running(app: web.Application) -> bool:
    running = _schedulers.get(app)
    return running is not None and running.running


async def check_status(app: web.Application, payment_id: int) -> StatusCheck:
    """The API's check-status (and anyone holding the app): see reconcile.check_now."""
    return await check_now(reconciler(app).ctx, payment_id)


class _Jobs:
    """Runs each job once at a time, logs its failures, and lets shutdown wait for it."""

    def __init__(self) -> None:
        self.closing = False
        self._running: set[asyncio.Task[Any]] = set()

    def job(
        self, name: str, work: Callable[[], Awaitable[object]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.closing:
                return
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await work()
            except Exception:
                log.exception("scheduler: job %s failed; it runs again at its next time", name)
            finally:
                self._running.discard(task)

        return run

    async def wait(self) -> None:
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown takes effect on the loop
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


def _start(
    config: Config, reconciler: Reconciler, jobs: _Jobs, callback_url: Callable[[str], str]
) -> AsyncIOScheduler:
    cfg = config.reconcile
    ctx = reconciler.ctx
    outage = OutageRules(
        window=timedelta(seconds=cfg.outage_window),
        min_paid_by_query=cfg.outage_min_paid,
        every=timedelta(seconds=cfg.outage_alert_every),
    )
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # not once a second
    scheduled = AsyncIOScheduler(timezone=UTC)
    plan: list[tuple[str, Job, int]] = [
        ("reconcile", reconciler.tick, cfg.tick),
        ("expire_orders", lambda: expire_orders(ctx), cfg.order_sweep),
        (
            "callback_outage",
            lambda: alert_missing_callbacks(ctx, callback_url, outage),
            OUTAGE_CHECK_EVERY,
        ),
    ]
    for name, work, seconds in plan:
        scheduled.add_job(
            jobs.job(name, work),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    scheduled.start()
    return scheduled
