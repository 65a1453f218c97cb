"""Background jobs on the app's event loop, run by APScheduler 3: the poller's tick every
second or so, the sweep that expires unpaid orders, the callback-outage check, and the
merchants' daily summary (bot/merchant/summary.py).

`[reconcile] enabled = false` keeps the jobs off (tests that drive the poller by hand); the
reconciler is built either way, so "check status" works. The HTTP API and the chat reach it
through `runtime.check_status(payment_id)` and `runtime.customer_back(customer_id)`, which this
context sets (bot/runtime.py), so that neither imports this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from random import Random
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.util import undefined

from bot.config import Config
from bot.logs import JOB
from bot.merchant import summary
from bot.metrics import on_status_query
from bot.policy import policy, throttle
from bot.runtime import RUNTIME, shop_rules
from payments.base import Gateway
from payments.reconcile.checks import ReconcileContext
from payments.reconcile.poller import (
    Limits,
    Reconciler,
    StatusCheck,
    check_customer_soon,
    check_now,
)
from payments.reconcile.ports import ReconcileUnitOfWork
from payments.reconcile.sweeps import OutageRules, alert_missing_callbacks, expire_orders
from payments.refunds import ask_again
from payments.status_query import Observe
from storage.db import Sessions
from storage.idempotency_repo import delete_expired_keys
from storage.reconcile_repo import reconcile_transaction

log = logging.getLogger(__name__)
OUTAGE_CHECK_EVERY = 60  # seconds
IDEMPOTENCY_SWEEP_EVERY = 3600  # seconds; keys live a day (storage/idempotency_repo.py)
REFUND_SWEEP_EVERY = 30  # seconds; a refund is asked again a minute after its last try
Job = Callable[[], Awaitable[object]]


def make_context(
    config: Config,
    uow: ReconcileUnitOfWork,
    gateways: Mapping[str, Gateway],
    clock: Callable[[], datetime],
    rnd: Random | None = None,
    observe: Observe | None = None,
) -> ReconcileContext:
    rnd = rnd or Random()
    cfg = config.reconcile
    return ReconcileContext(
        uow,
        shop_rules(config),
        gateways,
        clock,
        policy=policy(cfg),
        throttle=throttle(cfg, rnd),
        random=rnd,
        observe=observe,
    )


def make_reconciler(config: Config, ctx: ReconcileContext) -> Reconciler:
    cfg = config.reconcile
    lease = timedelta(seconds=cfg.lease)
    limits = Limits(cfg.batch, cfg.concurrency, cfg.gateway_concurrency, lease)
    return Reconciler(ctx, limits)


async def scheduler(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: build the reconciler; start the jobs when enabled; stop both after."""
    runtime = app[RUNTIME]
    sessions = runtime.sessions
    assert sessions is not None, "the database context comes first"
    ctx = make_context(
        runtime.config,
        lambda: reconcile_transaction(sessions, runtime.instance_id),
        runtime.gateways,
        runtime.clock,
        observe=on_status_query(app),
    )
    reconciler = make_reconciler(runtime.config, ctx)
    runtime.reconciler = reconciler
    runtime.check_status = partial(check_now, ctx)
    runtime.customer_back = partial(check_customer_soon, ctx)
    jobs = _Jobs()
    if runtime.config.reconcile.enabled:
        refunds = (
            "refunds_unanswered",
            lambda: ask_again(runtime.uow, runtime.gateways, now=runtime.clock()),
            REFUND_SWEEP_EVERY,
        )
        more: list[tuple[str, Job, int]] = [refunds]
        if runtime.config.merchant.summary_at is not None:
            daily = partial(summary.send_daily_summary, runtime)
            more.append(("daily_summary", daily, summary.CHECK_EVERY))
        runtime.jobs = _start(
            runtime.config, reconciler, jobs, runtime.callback_url, sessions, more
        )
    try:
        yield
    finally:
        jobs.closing = True
        running, runtime.jobs = runtime.jobs, None
        if running is not None:
            running.shutdown(wait=False)
        await jobs.wait()
        await reconciler.close()
        runtime.check_status = runtime.customer_back = None
        runtime.reconciler = None


def reconciler(app: web.Application) -> Reconciler:
    running = app[RUNTIME].reconciler
    if running is None:
        raise KeyError("the scheduler's context has not started")
    return running


def scheduler_running(app: web.Application) -> bool:
    return app[RUNTIME].scheduler_running


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
            JOB.set(name)  # in this job's own task: its log lines name it
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


async def _sweep_keys(sessions: Sessions, clock: Callable[[], datetime]) -> None:
    deleted = await delete_expired_keys(sessions, clock())
    if deleted:
        log.info("idempotency: deleted %d keys older than a day", deleted)


def _start(
    config: Config,
    reconciler: Reconciler,
    jobs: _Jobs,
    callback_url: Callable[[str], str],
    sessions: Sessions,
    more: Sequence[tuple[str, Job, int]] = (),
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
        ("idempotency_keys", partial(_sweep_keys, sessions, ctx.clock), IDEMPOTENCY_SWEEP_EVERY),
        *more,
    ]
    for name, work, seconds in plan:
        scheduled.add_job(
            jobs.job(name, work),
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            # The summary also looks at start-up: an instance started after its time sends it.
            next_run_time=datetime.now(UTC) if name == "daily_summary" else undefined,
        )
    scheduled.start()
    return scheduled
