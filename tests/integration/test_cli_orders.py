"""`checkout-bot orders list|show` against the database the running app writes: the same
queries, so the same JSON as the HTTP API."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.apikit import ApiClient, api_config, start_api
from tests.integration.test_cli import config_for
from tests.unit.test_config import cli


@pytest.fixture
async def api(aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession) -> ApiClient:
    return await start_api(aiohttp_server, api_config(db_url), http)


async def orders(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = config_for(tmp_path, db_url)
    return await asyncio.to_thread(cli, "--config", str(config), "orders", *args, cwd=tmp_path)


async def test_orders_list_json_is_what_the_api_lists(
    api: ApiClient, tmp_path: Path, db_url: str
) -> None:
    for _ in range(3):
        await api.place()
    done = await orders(tmp_path, db_url, "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = await api.call("GET", "/api/orders")
    assert json.loads(done.stdout) == listed.body["orders"]


async def test_orders_list_by_status_as_a_table(
    api: ApiClient, tmp_path: Path, db_url: str
) -> None:
    kept, dropped = (await api.place())["code"], (await api.place())["code"]
    await api.call("POST", f"/api/orders/{dropped}/cancel")
    done = await orders(tmp_path, db_url, "list", "--status", "cancelled")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["CODE", "STATUS", "TOTAL", "CUSTOMER", "CREATED"]
    assert len(rows) == 1 and rows[0].startswith(f"{dropped}  cancelled  Rp 50.000  Siti Rahma")
    assert kept not in done.stdout
    empty = await orders(tmp_path, db_url, "list", "--status", "shipped")
    assert empty.stdout.strip() == "no orders"


async def test_orders_show_json_is_what_the_api_shows_and_text_reads_well(
    api: ApiClient, tmp_path: Path, db_url: str
) -> None:
    code = (await api.place())["code"]
    await api.pay_with(code)
    done = await orders(tmp_path, db_url, "show", code.lower(), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == (await api.call("GET", f"/api/orders/{code}")).body
    text = await orders(tmp_path, db_url, "show", code)
    assert text.stdout.splitlines()[:3] == [
        f"Order {code}: pending_payment",
        "Customer: Siti Rahma, +6281234567890 (id)",
        "Delivery: pickup",
    ]
    assert "  2 x Milk Coffee: Rp 50.000" in text.stdout
    assert f"Payment 1 {code}01 sandbox:va:bca: pending" in text.stdout


async def test_orders_show_of_an_unknown_code_exits_1_and_a_bad_limit_2(
    tmp_path: Path, db_url: str
) -> None:
    missing = await orders(tmp_path, db_url, "show", "ZZZZZZ")
    assert missing.returncode == 1 and "there is no order ZZZZZZ" in missing.stderr
    bad = await orders(tmp_path, db_url, "list", "--limit", "101")
    assert bad.returncode == 2 and "from 1 to 100" in bad.stderr
