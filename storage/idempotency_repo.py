"""The API's Idempotency-Key rows (bot/api/idempotency.py) past their day, deleted in bulk by
a scheduler job (bot/scheduler.py), so the table holds one day of keys, not every key ever."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select

from storage.db import Sessions, transaction
from storage.models import IdempotencyKey

KEEP_KEYS: Final = timedelta(hours=24)  # what the API documents: a key is good for a day
SWEEP_BATCH: Final = 5000  # rows a transaction at most: a long-idle table is emptied in steps


async def delete_expired_keys(sessions: Sessions, now: datetime) -> int:
    """Delete keys claimed more than KEEP_KEYS ago; how many went."""
    deleted = 0
    while True:
        async with transaction(sessions) as session:
            old = (
                select(IdempotencyKey.key)
                .where(IdempotencyKey.created_at <= now - KEEP_KEYS)
                .limit(SWEEP_BATCH)
                .scalar_subquery()
            )
            result = await session.execute(
                delete(IdempotencyKey)
                .where(IdempotencyKey.key.in_(old))
                .execution_options(synchronize_session=False)
            )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        deleted += count
        if count < SWEEP_BATCH:
            return deleted
