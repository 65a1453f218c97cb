"""What a stranger can send to the callback route: nothing of it may hold the database,
pay a payment, or earn a 5xx (shared/DESIGN.md section 7, "Hostile input")."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from tests.integration.test_gateway_routes import ipaymu


async def test_a_lone_surrogate_in_an_unsigned_callback_does_not_hold_the_database(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    h = await ipaymu(aiohttp_server, db_url)
    payment = await h.start()
    hostile = json.dumps(
        {"reference_id": "NOSUCH01", "trx_id": 999, "status_code": "1\udfff", "sub_total": "1"}
    ).encode()
    headers = {"Content-Type": "application/json"}

    async def send_hostile() -> int:
        async with http.post(h.callback_url, data=hostile, headers=headers) as resp:
            return resp.status

    statuses = await asyncio.gather(*(send_hostile() for _ in range(20)))
    assert all(400 <= s < 500 or s == 200 for s in statuses), statuses
    started = time.monotonic()
    async with http.get(h.running.url("/healthz")) as resp:
        assert resp.status == 200
    h.pay(payment.reference)
    assert await h.send(http, h.callback_url, payment.reference) == 200
    assert time.monotonic() - started < 5  # a liveness bound; the freeze was 28 s
