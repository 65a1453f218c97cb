"""Idempotency-Key: the same key and body get the same answer, also after a crash or from
another instance, because keys and answers live in the database.

Where the work is all in our database (placing an order), the claim, the work and the answer
are one transaction (`claim_in` and `remember_in` on the caller's session): a process killed
in the middle leaves nothing, and the retry does the work once. Where a gateway answers in
the middle (a payment), the database is not held: the key is claimed (inserted with no answer)
before the work starts and given its answer after; a second request with the key while the
first runs gets 409, and a claim whose request died without an answer is taken over after
STALE (the attempt itself is reused, payments/attempts.py begin_attempt, so the retry creates
no second payment). Keys are forgotten after TTL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.errors import ApiError
from storage.db import Sessions, transaction
from storage.idempotency_repo import KEEP_KEYS
from storage.models import IdempotencyKey

TTL: Final = KEEP_KEYS  # then deleted by the scheduler's sweep (storage/idempotency_repo.py)
STALE: Final = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str


def request_hash(method: str, path: str, body: bytes) -> str:
    """Over the parsed JSON where it is JSON, so spacing and key order do not count."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


async def claim(sessions: Sessions, key: str, digest: str, now: datetime) -> Answer | None:
    """The stored answer to replay, or None when this request is to do the work."""
    async with transaction(sessions) as session:
        return await claim_in(session, key, digest, now)


async def claim_in(session: AsyncSession, key: str, digest: str, now: datetime) -> Answer | None:
    """`claim` inside the caller's transaction: the claim commits with the caller's work, or
    not at all. On PostgreSQL a second request with the key waits here for the first one's
    commit (the unique index), then replays its answer."""
    if await _insert(session, key, digest, now):
        return None
    row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))
    if row is None:  # forgotten in between: the next try claims it
        raise _in_progress()
    if row.created_at <= now - TTL:
        await _take_over(session, row, digest, now)
        return None
    if row.request_hash != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            "This Idempotency-Key was used with another request; use a new key.",
        )
    if row.status is not None and row.body is not None:
        return Answer(row.status, row.body)
    if row.created_at <= now - STALE:
        await _take_over(session, row, digest, now)
        return None
    raise _in_progress()


def _in_progress() -> ApiError:
    return ApiError(
        409, "idempotency_in_progress", "A request with this Idempotency-Key is still running."
    )


async def _insert(session: AsyncSession, key: str, digest: str, now: datetime) -> bool:
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(IdempotencyKey)
        .values(key=key, request_hash=digest, status=None, body=None, created_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def _take_over(
    session: AsyncSession, row: IdempotencyKey, digest: str, now: datetime
) -> None:
    """Conditional on the old claim's time, so of two instances taking over only one wins."""
    result = await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == row.key, IdempotencyKey.created_at == row.created_at)
        .values(request_hash=digest, status=None, body=None, created_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _in_progress()


async def remember(sessions: Sessions, key: str, answer: Answer) -> None:
    async with transaction(sessions) as session:
        await remember_in(session, key, answer)


async def remember_in(session: AsyncSession, key: str, answer: Answer) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == key)
        .values(status=answer.status, body=answer.body)
        .execution_options(synchronize_session=False)
    )


async def forget(sessions: Sessions, key: str) -> None:
    """The answer is not one to repeat (a 5xx, a 429, instructions not in yet): retry freely."""
    async with transaction(sessions) as session:
        await forget_in(session, key)


async def forget_in(session: AsyncSession, key: str) -> None:
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.key == key))


def repeatable(status: int) -> bool:
    """A 5xx, a 429 or a 202 (instructions not in yet) is not an answer to replay."""
    return status < 500 and status not in (202, 429)
