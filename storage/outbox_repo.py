"""The outbox worker's SQL: leases on due rows, and what became of each send.

A claim reads only unsent, unfailed, due rows through the partial index ix_outbox_due and
moves their next_attempt_at to the end of a lease, so several instances never send one row
at once: on PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, on SQLite the single
writer (BEGIN IMMEDIATE) gives the same guarantee. A worker that dies mid-send leaves its
rows to be claimed again when the lease runs out, or at once when its instance stops beating
(storage/instances_repo.py frees the rows `claimed_by` it).

A send is bracketed by `mark_started` (send_started_at) and its outcome. A claim that finds
send_started_at still set knows the last send's outcome is unknown: the chat API may have
shown the message. It counts that in `doubts` (bot/notify/worker.py resends such a row once,
marked as a repeat, and gives it up when in doubt a second time). Core statements, as in
reconcile_repo.py.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import Outbox

OB: Final = cast(Table, Outbox.__table__)
UNSETTLED: Final = (OB.c.sent_at.is_(None), OB.c.failed_at.is_(None))
TIME = OB.c.next_attempt_at.type
CLAIMED: Final = (
    OB.c.id, OB.c.channel, OB.c.address, OB.c.kind, OB.c.payload, OB.c.dedupe_key, OB.c.attempts,
    OB.c.doubts,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One claimed message; `attempts` counts this claim too; `doubts`: how many of its sends
    may have been shown without our knowing (0, or 1: this send is a repeat)."""

    id: int
    channel: str
    address: str
    kind: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int
    lease_until: datetime
    doubts: int = 0


class OutboxLeases:
    """The worker's side of the outbox: claim, release, and record each send's outcome.
    (The use cases write rows through storage/repo.py OutboxWriter.)"""

    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        """A connection from storage/db.py `one_statement` for a lone statement's method."""
        self._session = session
        bind = session.bind if isinstance(session, AsyncSession) else session
        self._postgres = bind.dialect.name == "postgresql"

    async def _run(self, statement: Any, params: Any = None) -> Result[Any]:
        if isinstance(self._session, AsyncConnection):
            return await self._session.execute(statement, params)
        connection = await self._session.connection()
        return await connection.execute(statement, params)

    async def any_due(self, now: datetime, channels: Collection[str]) -> bool:
        """A cheap read first, so an idle worker never takes SQLite's write lock."""
        query = (
            select(OB.c.id)
            .where(*UNSETTLED, OB.c.next_attempt_at <= now, OB.c.channel.in_(list(channels)))
            .limit(1)
        )
        return (await self._run(query)).first() is not None

    async def claim_due(
        self,
        now: datetime,
        lease_until: datetime,
        channels: Collection[str],
        limit: int,
        owner: str | None = None,
    ) -> list[OutboxRow]:
        due = (
            select(OB.c.id)
            .where(*UNSETTLED, OB.c.next_attempt_at <= now, OB.c.channel.in_(list(channels)))
            .order_by(OB.c.next_attempt_at, OB.c.id)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        return await self._claim(due, lease_until, owner)

    async def _claim(self, due: Any, lease_until: datetime, owner: str | None) -> list[OutboxRow]:
        claim = (
            update(OB)
            .where(OB.c.id.in_(due.scalar_subquery()))
            .values(
                next_attempt_at=lease_until,
                attempts=OB.c.attempts + 1,
                doubts=OB.c.doubts + case((OB.c.send_started_at.is_not(None), 1), else_=0),
                send_started_at=None,
                claimed_by=owner,
            )
            .returning(*CLAIMED)
        )
        rows = [
            OutboxRow(**row._asdict(), lease_until=lease_until) for row in await self._run(claim)
        ]
        return sorted(rows, key=lambda r: r.id)  # RETURNING keeps no order

    async def claim_more(
        self, like: OutboxRow, now: datetime, limit: int, owner: str | None = None
    ) -> list[OutboxRow]:
        """More due rows of `like`'s chat and kind, under `like`'s lease (to send as one)."""
        due = (
            select(OB.c.id)
            .where(*UNSETTLED, OB.c.next_attempt_at <= now)
            .where(OB.c.channel == like.channel, OB.c.address == like.address)
            .where(OB.c.kind == like.kind, OB.c.id != like.id)
            .order_by(OB.c.next_attempt_at, OB.c.id)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        return await self._claim(due, like.lease_until, owner)

    async def mark_started(self, row: OutboxRow, now: datetime) -> bool:
        """Durably before the chat API is asked; False when the lease is no longer ours (then
        the row is another instance's to send)."""
        result = await self._run(self._mine(row).values(send_started_at=now))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def mark_sent(self, row_ids: Sequence[int], now: datetime) -> None:
        """Also after a lost lease: the message went out, so nobody may send it again."""
        if row_ids:
            await self._run(
                update(OB)
                .where(OB.c.id.in_(list(row_ids)), OB.c.sent_at.is_(None))
                .values(sent_at=now)
            )

    async def retry_at(
        self, row: OutboxRow, at: datetime, error: str, *, count_attempt: bool = True
    ) -> None:
        """Send again at `at`. `count_attempt=False` gives the claim's attempt back (a rate
        limit, or a row released unsent, is not the message's fault)."""
        values: dict[str, Any] = {
            "next_attempt_at": at,
            "last_error": error[:1000] or None,
            "send_started_at": None,  # the chat API said no: not shown
            "claimed_by": None,
        }
        if not count_attempt:
            values["attempts"] = OB.c.attempts - 1
        await self._run(self._mine(row).values(**values))

    async def release(self, rows: Sequence[OutboxRow], at: datetime) -> None:
        """Claimed but not tried: back to the queue, attempt not counted."""
        if rows:
            statement = (
                update(OB)
                .where(OB.c.id == bindparam("b_id"), OB.c.next_attempt_at == bindparam("b_lease"))
                .where(*UNSETTLED)
                .values(
                    next_attempt_at=bindparam("b_at", type_=TIME),
                    attempts=OB.c.attempts - 1,
                    claimed_by=None,
                )
            )
            params = [{"b_id": r.id, "b_lease": r.lease_until, "b_at": at} for r in rows]
            await self._run(statement, params)

    async def give_up(self, row: OutboxRow, now: datetime, error: str) -> None:
        await self._run(
            self._mine(row).values(failed_at=now, last_error=error[:1000], send_started_at=None)
        )

    def _mine(self, row: OutboxRow) -> Any:
        """Only while the lease is still ours: a row another instance took over is theirs."""
        return (
            update(OB)
            .where(OB.c.id == row.id, OB.c.next_attempt_at == row.lease_until)
            .where(*UNSETTLED)
        )
