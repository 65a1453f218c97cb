"""The poller: finds every payment whose callback never came, by asking its gateway.

Each tick claims the payments that are due (a lease, so that instances never ask about one
payment at once), starts a check for each and returns. A check waits for a slot at its gateway
(a cap on queries in flight), asks if the gateway's throttle allows it (rate limit, backoff,
circuit) or else hands the payment back for later without a query, and has its answer applied
together with the others that arrived meanwhile, with the next check written back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from payments.base import MethodId, PaymentStatus
from payments.reconcile.checks import Answer, Checked, ReconcileContext, ask, settle
from payments.reconcile.ports import DuePayment
from payments.reconcile.throttle import Admission
from payments.reconcile.writer import AnswerWriter

log = logging.getLogger(__name__)
S = PaymentStatus


@dataclass(frozen=True, slots=True)
class Limits:
    batch: int = 200  # payments claimed per tick at most
    concurrency: int = 64  # checks in this process at most, asking or waiting to
    gateway_concurrency: int = 8  # status queries in flight per gateway at most
    lease: timedelta = timedelta(minutes=2)  # longer than any one check can take


class Reconciler:
    """One per process. `tick` is the scheduler's job; `run_due` is a tick that waits."""

    def __init__(self, ctx: ReconcileContext, limits: Limits = Limits()) -> None:
        self.ctx = ctx
        self.limits = limits
        self._writer = AnswerWriter(ctx, size=limits.batch)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[Checked]] = set()
        self._closing = False

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def tick(self) -> int:
        """Claim what is due and start its checks; returns how many payments were claimed."""
        room = min(self.limits.batch, self.limits.concurrency - len(self._tasks))
        if room <= 0 or self._closing:
            return 0
        now = self.ctx.clock()
        lease = now + self.limits.lease
        async with self.ctx.uow() as store:
            due = await store.reconcile.claim_due(now, lease, room)
        for payment in due:
            self._start(payment, lease)
        return len(due)

    async def run_due(self) -> int:
        """Tick, then wait for the checks it started (tests, simulations, --once)."""
        claimed = await self.tick()
        await self.wait_idle()
        return claimed

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        """Let running checks finish for a moment, then cancel them (their leases run out)."""
        self._closing = True
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._writer.close()

    def _start(self, payment: DuePayment, lease: datetime) -> None:
        task = asyncio.create_task(self._check(payment, lease), name=f"check-{payment.reference}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def _check(self, payment: DuePayment, lease: datetime) -> Checked:
        """Wait for a slot at the gateway, ask if its throttle allows it, else hand it back."""
        slot = self._slots.setdefault(
            payment.gateway, asyncio.Semaphore(self.limits.gateway_concurrency)
        )
        async with slot:
            if self.ctx.clock() > lease - self.limits.lease / 4:  # queued too long: hand back
                admission = Admission(1.0, "lease running out")
            else:
                admission = self.ctx.throttle.of(payment.gateway).admit(self.ctx.now())
            if admission.go:
                answer = await ask(self.ctx, payment, lease, "poll")
            else:
                self.ctx.counts[f"deferred:{admission.reason}"] += 1
                resume = self.ctx.now() + admission.wait
                answer = Answer(payment, lease, "poll", resume=resume)
        return await self._writer.settle(answer)

    def _finished(self, task: asyncio.Task[Checked]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:  # the lease runs out and it is tried again
            self.ctx.counts["check_failed"] += 1
            log.error("reconcile: a status check failed", exc_info=exc)


# ---- "check status" now ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCheck:
    """The answer to "check status": the payment's status now, and whether the gateway was asked.

    `error` says why it was not asked or did not answer (the stored status is returned then);
    `retry_in` is how many seconds until asking again can reach the gateway.
    """

    payment_id: int
    status: PaymentStatus
    asked: bool
    changed: bool = False
    error: str | None = None
    retry_in: float | None = None


async def check_now(ctx: ReconcileContext, payment_id: int) -> StatusCheck:
    """Ask the gateway about one payment right away and apply the answer like a callback.

    At most once per `policy.check_min_interval` per payment, whoever asks (the poller's own
    checks count too); a faster repeat returns the stored status without a query. Raises
    LookupError for an unknown payment.
    """
    now = ctx.clock()
    async with ctx.uow() as store:
        due = await store.reconcile.claim_check_now(payment_id, now, ctx.policy.check_min_interval)
        stored = None if due is not None else await store.payments.get(payment_id)
    if due is None:
        if stored is None:
            raise LookupError(f"no payment {payment_id}")
        status = S(stored.status)
        wait = None if status.is_final else _wait_after(stored.checked_at, now, ctx)
        return StatusCheck(payment_id, status, asked=False, retry_in=wait)
    admission = ctx.throttle.of(due.gateway).admit(now.timestamp())
    if not admission.go:
        error = f"gateway {due.gateway}: {admission.reason}"
        return StatusCheck(payment_id, S(due.status), False, error=error, retry_in=admission.wait)
    [checked] = await settle(ctx, [await ask(ctx, due, None, "check")])
    return StatusCheck(payment_id, checked.after, checked.asked, checked.changed, checked.error)


async def check_order_now(ctx: ReconcileContext, order_code: str) -> list[StatusCheck]:
    """`check_now` for each open payment of an order ("sudah bayar" about an order)."""
    async with ctx.uow() as store:
        ids = await store.reconcile.live_payment_ids_of_order(order_code)
    return [await check_now(ctx, payment_id) for payment_id in ids]


async def check_customer_soon(ctx: ReconcileContext, customer_id: int) -> int:
    """The customer is back in the chat: have the poller ask about their open payments at once.

    Cheap (one UPDATE) and asynchronous: for a tap or "My orders" while a payment is pending.
    Payments asked about in the last `check_min_interval` keep their plan.
    """
    async with ctx.uow() as store:
        interval = ctx.policy.check_min_interval
        return await store.reconcile.check_customer_soon(customer_id, ctx.clock(), interval)


def _wait_after(checked_at: datetime | None, now: datetime, ctx: ReconcileContext) -> float:
    if checked_at is None:
        return 0.0
    return max(0.0, (checked_at + ctx.policy.check_min_interval - now).total_seconds())


# ---- one pass over everything (checkout-bot reconcile --once) -------------------------------


@dataclass
class OnceReport:
    checked: list[Checked]
    down: dict[str, str]  # gateway -> why it could not be asked
    skipped: Counter[str]  # gateway -> payments not asked because it is down

    @property
    def changed(self) -> list[Checked]:
        return [c for c in self.checked if c.changed]

    @property
    def tried(self) -> int:
        """Every open payment this pass meant to ask about, answered or not."""
        return len(self.checked) + sum(self.skipped.values())

    @property
    def failed(self) -> int:
        """Payments whose gateway gave no answer, or was not asked for being down."""
        return sum(1 for c in self.checked if not c.asked) + sum(self.skipped.values())

    def lines(self) -> list[str]:
        """A table of what changed, then who is down."""
        rows = [("REFERENCE", "METHOD", "BEFORE", "AFTER")]
        rows += [(c.reference, c.method, str(c.before), str(c.after)) for c in self.changed]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        table = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
        lines = [line.rstrip() for line in table] if self.changed else ["nothing changed"]
        lines.append(
            f"asked about {self.tried} open payments: {len(self.changed)} changed, "
            f"{self.failed} failed"
        )
        for gateway, why in sorted(self.down.items()):
            skipped = self.skipped.get(gateway, 0)
            lines.append(f"gateway {gateway} is down ({why}); {skipped} payments not asked")
        return lines


async def reconcile_once(
    ctx: ReconcileContext, *, page: int = 100, concurrency: int = 8
) -> OnceReport:
    """Ask about every open payment once, whatever its schedule; a gateway that is down is
    listed, not waited for."""
    report = OnceReport([], {}, Counter())
    slots = asyncio.Semaphore(concurrency)
    after = 0
    while True:
        async with ctx.uow() as store:
            rows = await store.reconcile.live_payments(after, page)
        if not rows:
            return report
        after = rows[-1].id
        asked = await asyncio.gather(*(_ask_once(ctx, row, report, slots) for row in rows))
        answers = [answer for answer in asked if answer is not None]
        for checked in await settle(ctx, answers):
            report.checked.append(checked)
            if checked.error is not None:
                report.down[MethodId.parse(checked.method).gateway] = checked.error


async def _ask_once(
    ctx: ReconcileContext, due: DuePayment, report: OnceReport, slots: asyncio.Semaphore
) -> Answer | None:
    throttle = ctx.throttle.of(due.gateway)
    async with slots:
        while not (admission := throttle.admit(ctx.now())).go:
            if admission.reason != "rate limit":
                report.down.setdefault(due.gateway, admission.reason)
                report.skipped[due.gateway] += 1
                return None
            await asyncio.sleep(admission.wait)
        return await ask(ctx, due, None, "poll")
