"""`checkout-bot reconcile --once`: one pass over every open payment, as a separate process."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from payments.attempts import begin_attempt
from payments.base import MethodId
from payments.orders import Shop
from storage.models import Payment
from tests.conftest import NOW, ROOT, UnitOfWork, free_port, new_order, sandbox_on
from tests.integration.test_reconcile import open_shop


def config_file(tmp_path: Path, db_url: str, port: int) -> Path:
    text = (ROOT / "config.toml").read_text()
    text = text.replace("sqlite+aiosqlite:///checkout.db", db_url)
    text = text.replace("merchant_chat_ids = []", "merchant_chat_ids = [9001]")
    text = sandbox_on(text)
    text = text.replace(
        'public_url = "http://127.0.0.1:8080"', f'public_url = "http://127.0.0.1:{port}"'
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


async def reconcile_once(config: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "reconcile",
        "--once",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(config.parent),
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_reconcile_once_counts_a_gateway_that_is_down_as_failed_and_exits_1(
    tmp_path: Path, db_url: str, uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    code = await new_order(uow, shop, customer_id, now=NOW)
    async with uow() as store:
        method = MethodId.parse("sandbox:va:bca")
        await begin_attempt(store, code, method, expiry=timedelta(hours=2), now=NOW)
    nobody_listens = free_port()
    status, out, err = await reconcile_once(config_file(tmp_path, db_url, nobody_listens))
    assert status == 1, err
    assert "nothing changed" in out
    assert "asked about 1 open payments: 0 changed, 1 failed" in out
    assert "gateway sandbox is down" in out and "Traceback" not in err


async def test_reconcile_once_confirms_what_was_paid_and_prints_the_change(
    aiohttp_server: Any, db_url: str, tmp_path: Path
) -> None:
    h = await open_shop(aiohttp_server, db_url)
    paid = await h.start("sandbox:qris", chat_id="1")
    open_ = await h.start("sandbox:link", chat_id="2")
    h.pay(paid.reference)
    config = config_file(tmp_path, db_url, h.runtime.config.server.port)
    status, out, err = await reconcile_once(config)
    assert status == 0, err
    assert re.search(rf"\n{paid.reference} +sandbox:qris +pending +paid\n", out), out
    assert open_.reference not in out
    assert "asked about 2 open payments: 1 changed, 0 failed" in out
    assert "alembic" not in err.lower()  # no migration: the schema was there
    assert await h.rows(select(Payment.status).order_by(Payment.id)) == [("paid",), ("pending",)]
    assert await h.outbox() == ["order_paid", "payment_paid"]
