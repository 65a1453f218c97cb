"""The API's Idempotency-Key under SIGKILL: the real service killed while it places orders,
restarted, and asked again with the same keys places each order exactly once and answers as
the first time (bot/api/routes.py `_atomic`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text

from storage.db import Sessions, transaction
from storage.models import IdempotencyKey, Order
from tests.integration.appprocess import AUTH, AppProcess

CUSTOMER = {"name": "Siti Rahma", "phone": "081234567890", "telegram_chat_id": 1001}
SKUS = ["KOPI-SUSU", "KOPI-HITAM", "TEH-TARIK"]
UNLIMITED = {"rate_per_second = 10 ": "rate_per_second = 1000 ", "burst = 60 ": "burst = 1000 "}


def order_body(n: int) -> dict[str, Any]:
    return {"items": [{"sku": SKUS[n % len(SKUS)], "quantity": 1}], "customer": CUSTOMER}


async def place(
    http: aiohttp.ClientSession, app: AppProcess, n: int
) -> tuple[int, dict[str, Any] | None]:
    headers = {**AUTH, "Idempotency-Key": f"crash-order-{n}"}
    try:
        async with http.post(app.url("/api/orders"), json=order_body(n), headers=headers) as r:
            return r.status, await r.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError):
        return 0, None  # the process died under this request


async def counts(sessions: Sessions) -> tuple[int, int]:
    async with transaction(sessions) as session:
        orders = await session.scalar(select(func.count()).select_from(Order))
        keys = await session.scalar(
            select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.status.is_(None))
        )
    return int(orders or 0), int(keys or 0)


async def retry_all(
    http: aiohttp.ClientSession, app: AppProcess, n: int
) -> list[tuple[int, dict[str, Any] | None]]:
    return [await place(http, app, i) for i in range(n)]


async def test_orders_killed_mid_creation_are_placed_once_on_retry_with_the_same_key(
    tmp_path: Path, db_url: str, sessions: Sessions, http: aiohttp.ClientSession
) -> None:
    n = 40
    app = AppProcess(tmp_path, db_url, replacements=UNLIMITED)
    await app.start()
    try:
        burst = [asyncio.create_task(place(http, app, i)) for i in range(n)]
        for done in asyncio.as_completed(burst):
            if (await done)[0] == 201:
                break  # the rest are in flight: kill now
        await app.kill()
        first = [await task for task in burst]
        await app.start()
        again = await retry_all(http, app, n)
        twice = await retry_all(http, app, n)
    finally:
        await app.stop()
    assert [status for status, _ in again] == [201] * n
    assert again == twice  # the same answer every time after the first
    for (status, body), (_, later) in zip(first, again, strict=True):
        if status == 201:
            assert body == later  # answered before the kill: the same answer after it
    codes = {body["code"] for _, body in again if body is not None}
    assert len(codes) == n
    assert await counts(sessions) == (n, 0)  # one order per key, no claim left hanging


async def test_a_kill_while_the_order_waits_on_a_lock_leaves_nothing_and_the_retry_places_it(
    tmp_path: Path, db_url: str, backend: str, sessions: Sessions, http: aiohttp.ClientSession
) -> None:
    """PostgreSQL: the test holds the product's row, so the kill lands inside the app's
    transaction after its claim was written: the claim must not survive the kill."""
    if backend != "postgresql":
        pytest.skip("a row lock from outside stops the app mid-transaction on PostgreSQL only")
    app = AppProcess(tmp_path, db_url)
    await app.start()
    try:
        async with transaction(sessions) as holder:
            lock = "SELECT id FROM products WHERE sku = 'KOPI-SUSU' FOR UPDATE"
            await holder.execute(text(lock))
            request = asyncio.create_task(place(http, app, 0))
            await _until_someone_waits_on_a_lock(sessions)
            await app.kill()
            assert (await request)[0] == 0
        await app.start()
        status, body = await place(http, app, 0)
        replay = await place(http, app, 0)
    finally:
        await app.stop()
    assert status == 201 and body is not None
    assert replay == (201, body)
    assert await counts(sessions) == (1, 0)


async def _until_someone_waits_on_a_lock(sessions: Sessions) -> None:
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    for _ in range(600):
        async with sessions() as session:
            if await session.scalar(query):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the app's order never reached the locked product")
