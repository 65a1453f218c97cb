"""The outbox worker: claims due outbox rows, renders each for its chat, sends it, paced.

Rows are written by the payment and order use cases in the same transaction as the change
they announce, one per dedupe key; this worker makes sure each goes out once. It claims rows
with a lease (storage/outbox_repo.py), queues them per chat, takes each chat's turn from the
channel's Pacer, and records the outcome: sent; retry after the channel's retry-after or a
growing back-off; or given up at once when the channel says it never will (a customer who
blocked the bot), with the reason kept in `last_error`.

A send is bracketed in the database: send_started_at is committed before the chat API is asked
and the outcome right after it answers, each a lone statement (storage/db.py one_statement)
rather than a transaction queued behind other work. Telegram has no idempotency key, so a
process killed between the chat's "ok" and that second statement leaves a row whose message
may have been shown: the next claim finds it in doubt (storage/outbox_repo.py). Such a row is
sent once more, marked as a repeat in the reader's language; in doubt a second time, it is
given up with the reason, never sent a third time.

A merchant chat is paced like any other (one message a second on Telegram), so paid-order
notices to it are combined: at its turn, every `order_paid` row for that chat held or due is
sent as one message listing the orders with their totals (bot/notify/notices.py
render_paid_digest), as many as the channel's length limit allows; the rest go next.

Channels plug in a `Sender` (bot/notify/sender.py) through `runtime.outbox.register(sender)`
when they start (or `register_sender(app, sender)`); the worker claims only rows of channels
it has a sender for, so the others stay in the table for whoever sends them. Each row is
rendered by bot/notify/render.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from random import Random
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.replies import Reply
from bot.notify.notices import render_paid_digest
from bot.notify.pace import NO_LIMIT, Pace, Pacer
from bot.notify.render import render_row
from bot.notify.sender import RetryLater, Sender, Undeliverable
from storage.db import Sessions, one_statement, transaction
from storage.models import utcnow
from storage.outbox_repo import OutboxLeases, OutboxRow

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = [
    "NO_LIMIT",
    "OUTBOX",
    "OutboxWorker",
    "Pace",
    "RetryLater",
    "Sender",
    "Undeliverable",
    "register_sender",
]

log = logging.getLogger(__name__)
COMBINED = "order_paid"  # the merchant notices sent as one message when several are queued
COMBINE_MAX = 200  # rows looked at for one combined message
DOUBTED_TWICE = (
    "in doubt twice: killed after asking the chat API twice, so the message may have been "
    "shown twice; not sent a third time"
)


@dataclass
class Tuning:
    poll: float = 0.2  # seconds between looks at the table
    batch: int = 100  # rows claimed at most per look
    in_flight: int = 200  # rows held in memory at most, all chats
    lane_max: int = 5  # rows held per chat; the rest wait in the table
    lease: float = 60.0  # seconds before another instance may take a claimed row
    backoff_base: float = 1.0
    backoff_max: float = 600.0
    max_attempts: int = 25  # transient failures before giving up (about 3 hours)


Lane = tuple[str, str]  # (channel, address)


class OutboxWorker:
    def __init__(
        self, runtime: Runtime, tuning: Tuning | None = None, rnd: Random | None = None
    ) -> None:
        self.runtime = runtime
        self.tuning = tuning or Tuning()
        self.senders: dict[str, Sender] = {}
        self._rnd = rnd or Random()
        self._pacers: dict[str, Pacer] = {}
        self._lanes: dict[Lane, deque[OutboxRow]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def register(self, sender: Sender) -> None:
        """From now on rows of `sender.channel` are claimed and sent through it."""
        self.senders[sender.channel] = sender
        self._pacers[sender.channel] = Pacer(sender.pace)
        self.wake()

    def unregister(self, channel: str) -> None:
        self.senders.pop(channel, None)

    def wake(self) -> None:
        """Look at the table now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.poll()
            except Exception:
                log.exception("outbox: claiming failed; trying again")
            await self._nap(self.tuning.poll, wakeable=True)

    async def flush(self) -> None:
        """Claim what is due now and wait until it is sent or back in the table: for a
        channel that shows its messages right after the step that wrote them (the demo)."""
        while await self.poll():
            await self._drained()
        await self._drained()

    async def _drained(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop claiming; finish the sends under way; rows not started go back at once."""
        self._stop.set()
        self._wake.set()
        await self._drained()

    async def poll(self) -> int:
        """Claim what is due and queue it per chat; returns how many rows were claimed."""
        channels = sorted(self.senders)
        room = min(self.tuning.batch, self.tuning.in_flight - self.held)
        if not channels or room <= 0 or self._stop.is_set():
            return 0
        now = utcnow()
        async with self._read() as session:
            if not await OutboxLeases(session).any_due(now, channels):
                return 0
        lease_until = now + timedelta(seconds=self.tuning.lease)
        async with transaction(self._sessions) as session:
            leases = OutboxLeases(session)
            owner = self.runtime.instance_id
            rows = await leases.claim_due(now, lease_until, channels, room, owner)
        overflow = [row for row in rows if not self._queue(row)]
        if overflow:  # back to the table until their chat's lane has room
            async with transaction(self._sessions) as session:
                later = now + max(self._lane_time(row) for row in overflow)
                await OutboxLeases(session).release(overflow, later)
        return len(rows)

    def _lane_time(self, row: OutboxRow) -> timedelta:
        pacer = self._pacers.get(row.channel)
        interval = pacer.pace.per_chat_interval if pacer else 1.0
        return timedelta(seconds=self.tuning.lane_max * interval)

    @property
    def held(self) -> int:
        return sum(len(q) for q in self._lanes.values())

    @property
    def _sessions(self) -> Sessions:
        assert self.runtime.sessions is not None, "database not started"
        return self.runtime.sessions

    def _read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return transaction(self.runtime.read_sessions or self._sessions)

    def _queue(self, row: OutboxRow) -> bool:
        lane = (row.channel, row.address)
        queue = self._lanes.get(lane)
        full = len(queue or ()) >= self.tuning.lane_max and not self._combinable(row)
        if row.channel not in self.senders or full:
            return False
        if queue is None:
            queue = self._lanes[lane] = deque()
            task = asyncio.create_task(self._drive(lane, queue), name=f"outbox:{row.channel}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(row)
        return True

    async def _drive(self, lane: Lane, queue: deque[OutboxRow]) -> None:
        """One chat's rows in order, each at the chat's turn."""
        channel, address = lane
        try:
            while queue and not self._stop.is_set():
                pacer = self._pacers[channel]
                wait = pacer.wait_needed(address)
                if wait > 0:
                    await self._nap(wait)
                    continue
                await pacer.turn(address)
                batch = await self._gather(queue.popleft(), queue)
                if len(batch) > 1:
                    await self._deliver_combined(batch)
                else:
                    await self._deliver(batch[0])
        except Exception:
            log.exception("outbox: the %s lane stopped; its rows go back to the table", channel)
        finally:
            del self._lanes[lane]  # before any await: new rows for this chat start a new lane
            if queue:
                await self._put_back(list(queue))

    async def _put_back(self, rows: list[OutboxRow]) -> None:
        try:
            async with transaction(self._sessions) as session:
                await OutboxLeases(session).release(rows, utcnow())
        except Exception:
            log.exception("outbox: could not put %d rows back; their lease runs out", len(rows))

    def _combinable(self, row: OutboxRow) -> bool:
        """A paid-order notice to a merchant, not a repeat (a repeat goes alone, marked)."""
        return row.kind == COMBINED and not row.doubts and self._to_merchant(row)

    async def _gather(self, row: OutboxRow, queue: deque[OutboxRow]) -> list[OutboxRow]:
        """`row`, and when it is a merchant's paid-order notice, the others of its chat held
        here or due in the table, to go as one message."""
        if not self._combinable(row):
            return [row]
        held = [r for r in queue if r.kind == row.kind and not r.doubts]
        for other in held:
            queue.remove(other)
        room = COMBINE_MAX - 1 - len(held)
        more: list[OutboxRow] = []
        if room > 0:
            async with transaction(self._sessions) as session:
                leases = OutboxLeases(session)
                more = await leases.claim_more(row, utcnow(), room, self.runtime.instance_id)
        queue.extend(r for r in more if r.doubts)
        return [row, *held, *(r for r in more if not r.doubts)]

    async def _deliver_combined(self, batch: list[OutboxRow]) -> None:
        sender = self.senders.get(batch[0].channel)
        if sender is None:
            await self._put_back(batch)
            return
        language = self.runtime.config.shop.languages[0]
        country = self.runtime.config.shop.country
        reply, fitted = render_paid_digest(
            [r.payload for r in batch],
            language=language,
            country=country,
            limit=sender.pace.max_text,
        )
        taken, rest = batch[:fitted], batch[fitted:]
        if rest:
            await self._put_back(rest)
        if len(taken) == 1:
            await self._deliver(taken[0])
            return
        if not await self._started_all(taken):
            return
        try:
            await self._send(sender, taken[0], reply)
        except RetryLater as exc:
            self._pacers[taken[0].channel].hold(taken[0].address, exc.after)
            for row in taken:
                await self._retry(
                    row, exc.after, f"retry after {exc.after:g}s: {exc.reason}", False
                )
        except Undeliverable as exc:
            for row in taken:
                await self._give_up(row, str(exc))
        except Exception as exc:
            for row in taken:
                await self._transient(row, exc)
        else:
            await self._sent_all(taken)

    async def _started_all(self, rows: list[OutboxRow]) -> bool:
        """`_started` for a combined message: all of its rows, or none (then back to the
        table, for whoever holds them now)."""
        try:
            async with transaction(self._sessions) as session:
                leases, now = OutboxLeases(session), utcnow()
                for row in rows:
                    if not await leases.mark_started(row, now):
                        raise LookupError(row.id)
            return True
        except LookupError:
            log.info("outbox: a combined row was taken over before its send; not sending")
        except Exception:
            log.exception("outbox: could not record the start of a combined send")
        await self._put_back(rows)
        return False

    async def _sent_all(self, rows: list[OutboxRow]) -> None:
        for attempt in range(3):
            try:
                async with one_statement(self._sessions) as connection:
                    await OutboxLeases(connection).mark_sent([r.id for r in rows], utcnow())
                return
            except Exception:
                log.exception("outbox: %d rows sent but not recorded (try %d)", len(rows), attempt)
                await asyncio.sleep(0.5)

    async def _deliver(self, row: OutboxRow) -> None:
        sender = self.senders.get(row.channel)
        if sender is None:
            await self._put_back([row])
            return
        if row.doubts >= 2:
            await self._give_up(row, DOUBTED_TWICE)
            return
        try:
            reply = await self._render(row)
        except Exception as exc:  # no retry makes an unreadable row readable
            log.exception("outbox: row %s (%s) cannot be rendered", row.id, row.kind)
            await self._give_up(row, f"render: {exc!r}")
            return
        if not await self._started(row):
            return
        try:
            await self._send(sender, row, reply)
        except RetryLater as exc:
            self._pacers[row.channel].hold(row.address, exc.after)
            await self._retry(row, exc.after, f"retry after {exc.after:g}s: {exc.reason}", False)
        except Undeliverable as exc:
            await self._give_up(row, str(exc))
        except Exception as exc:
            await self._transient(row, exc)
        else:
            await self._sent(row)

    async def _send(self, sender: Sender, row: OutboxRow, reply: Reply) -> None:
        """One send; whatever way it fails counts in checkout_outbox_send_failures."""
        try:
            await sender.send(row.address, reply, kind=row.kind)
        except Exception:
            self.runtime.metrics.outbox_send_failures.labels(row.channel).inc()
            raise

    async def _render(self, row: OutboxRow) -> Reply:
        async with self._read() as session:
            shop, to_merchant = self.runtime.config.shop, self._to_merchant(row)
            return await render_row(
                session,
                shop,
                row.kind,
                row.payload,
                to_merchant=to_merchant,
                repeat=row.doubts > 0,
            )

    def _to_merchant(self, row: OutboxRow) -> bool:
        return any(
            m.channel == row.channel and m.address == row.address
            for m in self.runtime.shop.merchants
        )

    async def _started(self, row: OutboxRow) -> bool:
        """send_started_at, durable before the send; False: not ours to send (lease lost, or
        the database is away, and then the row goes back to the table)."""
        try:
            async with one_statement(self._sessions) as connection:
                if await OutboxLeases(connection).mark_started(row, utcnow()):
                    return True
            log.info("outbox: row %s was taken over before its send; not sending", row.id)
        except Exception:
            log.exception("outbox: row %s: could not record the send's start", row.id)
            await self._put_back([row])
        return False

    async def _sent(self, row: OutboxRow) -> None:
        log.debug("outbox: row %s (%s) sent on %s", row.id, row.kind, row.channel)
        for attempt in range(3):  # a lost write leaves the row in doubt: one marked repeat
            try:
                async with one_statement(self._sessions) as connection:
                    await OutboxLeases(connection).mark_sent([row.id], utcnow())
                return
            except Exception:
                log.exception("outbox: row %s sent but not recorded (try %d)", row.id, attempt)
                await asyncio.sleep(0.5)

    async def _transient(self, row: OutboxRow, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if row.attempts >= self.tuning.max_attempts:
            await self._give_up(row, f"gave up after {row.attempts} attempts; last: {error}")
            return
        tuning = self.tuning
        delay = min(tuning.backoff_base * 2 ** (row.attempts - 1), tuning.backoff_max)
        delay *= self._rnd.uniform(0.8, 1.2)
        log.info("outbox: row %s (%s) failed (%s); again in %.1fs", row.id, row.kind, error, delay)
        await self._retry(row, delay, error, True)

    async def _retry(self, row: OutboxRow, delay: float, error: str, counted: bool) -> None:
        at = utcnow() + timedelta(seconds=delay)
        async with transaction(self._sessions) as session:
            await OutboxLeases(session).retry_at(row, at, error, count_attempt=counted)
        self._wake_at(delay)

    async def _give_up(self, row: OutboxRow, reason: str) -> None:
        log.warning(
            "outbox: row %s (%s) on %s given up: %s", row.id, row.kind, row.channel, reason
        )
        async with transaction(self._sessions) as session:
            await OutboxLeases(session).give_up(row, utcnow(), reason)

    def _wake_at(self, delay: float) -> None:
        """A retry due sooner than the next poll still goes out on time."""
        if delay < self.tuning.poll:
            asyncio.get_running_loop().call_later(delay, self.wake)

    async def _nap(self, seconds: float, *, wakeable: bool = False) -> None:
        waits = [asyncio.ensure_future(self._stop.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if wakeable:
            self._wake.clear()


OUTBOX = web.AppKey("outbox", OutboxWorker)


def register_sender(app: web.Application, sender: Sender) -> None:
    """Send this channel's outbox rows through `sender` (before or after the app starts)."""
    app[OUTBOX].register(sender)


def install(app: web.Application, runtime: Runtime) -> OutboxWorker:
    """For create_app: the worker under app[OUTBOX], run by a cleanup context."""
    worker = OutboxWorker(runtime)
    app[OUTBOX] = worker
    runtime.outbox = worker  # the channels register their senders through the runtime
    app.cleanup_ctx.append(outbox_worker)
    return worker


async def outbox_worker(app: web.Application) -> AsyncIterator[None]:
    worker = app[OUTBOX]
    task = asyncio.create_task(worker.run(), name="outbox")
    yield
    await worker.close()
    await task
