"""Instances and their heartbeats, so that claims outlive no process by more than seconds.

The outbox worker's rows (storage/outbox_repo.py) and the poller's payments
(storage/reconcile_repo.py) carry `claimed_by`, the id of the instance holding their lease.
Leases are long (a minute or two) because a live holder may be slow; a dead one is told apart
by its heartbeat instead: an instance that has not beaten for DEAD_AFTER is dead, and any
instance frees its claims (bot/instance.py). A restarted instance has the same id (host and
port) and frees its previous life's claims at once, before it claims anything.

Freeing keeps send_started_at, so that an outbox row whose send was under way when its
instance died is claimed as in doubt (bot/notify/worker.py). Plain statements that work the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Instance, Outbox, Payment
from storage.repo import insert_ignoring_duplicates

DEAD_AFTER: Final = timedelta(seconds=5)
OB: Final = cast(Table, Outbox.__table__)
P: Final = cast(Table, Payment.__table__)


@dataclass(frozen=True, slots=True)
class Freed:
    outbox: int
    payments: int


async def beat(session: AsyncSession, instance_id: str, now: datetime) -> None:
    """Insert or refresh this instance's heartbeat."""
    await session.execute(
        insert_ignoring_duplicates(session, Instance, "id").values(
            id=instance_id, started_at=now, heartbeat_at=now
        )
    )
    await session.execute(
        update(Instance).where(Instance.id == instance_id).values(heartbeat_at=now)
    )


async def free_claims(session: AsyncSession, instance_id: str, now: datetime) -> Freed:
    """What `instance_id` holds becomes due now (its next claimer decides what it means)."""
    outbox = await session.execute(
        update(OB)
        .where(OB.c.claimed_by == instance_id, OB.c.sent_at.is_(None))
        .where(OB.c.failed_at.is_(None), OB.c.next_attempt_at > now)
        .values(next_attempt_at=now, claimed_by=None)
    )
    payments = await session.execute(
        update(P)
        .where(P.c.claimed_by == instance_id, P.c.next_check_at > now)
        .values(next_check_at=now, claimed_by=None)
    )
    return Freed(_count(outbox), _count(payments))


async def dead(session: AsyncSession, now: datetime, dead_after: timedelta) -> list[str]:
    query = select(Instance.id).where(Instance.heartbeat_at < now - dead_after)
    return list((await session.scalars(query)).all())


async def bury(session: AsyncSession, instance_id: str, before: datetime) -> bool:
    """Forget a dead instance, unless it beat again meanwhile (then it was only slow)."""
    result = await session.execute(
        delete(Instance).where(Instance.id == instance_id, Instance.heartbeat_at < before)
    )
    return _count(result) == 1


def _count(result: Any) -> int:
    return int(result.rowcount)
