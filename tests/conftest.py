"""Shared fixtures.

Every test that takes `db_url` (or anything built on it) runs on a real SQLite file, and again
on PostgreSQL when CHECKOUT_TEST_DATABASE_URL is set. Fakes of external APIs run on 127.0.0.1
over real HTTP (pytest-aiohttp's `aiohttp_server`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.catalog.sync import sync_catalog
from bot.config import Config, load_config
from bot.runtime import RUNTIME, Runtime
from payments.orders import CartLine, Delivery, Shop, place_order
from payments.ports import Recipient
from storage.db import Sessions, make_engine, make_sessions, transaction, upgrade_sync
from storage.models import Base, Customer
from storage.repo import SqlStore, store_transaction

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("CHECKOUT_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
MERCHANT = Recipient("telegram", "9001")
SANDBOX_SECRET = "sandbox-secret-of-the-tests"  # the shipped config.toml leaves the sandbox off

UnitOfWork = Callable[[], AbstractAsyncContextManager[SqlStore]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test gets a copy, so every test runs the real migrations' schema."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    """Drop and migrate once per run. In a thread: it may be asked for inside a running loop."""

    def work() -> None:
        asyncio.run(_reset_pg_schema(PG_URL))
        upgrade_sync(PG_URL)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(work).result()
    return PG_URL


async def _reset_pg_schema(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def _truncate_pg(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_migrated")
    await _truncate_pg(url)
    return url


@pytest.fixture
def backend(db_url: str) -> str:
    return make_url(db_url).get_backend_name()


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[Sessions]:
    engine = make_engine(db_url, pool_size=10)
    yield make_sessions(engine)
    await engine.dispose()


@pytest.fixture
def uow(sessions: Sessions) -> UnitOfWork:
    return lambda: store_transaction(sessions)


@pytest.fixture(scope="session")
def config_path() -> Path:
    return ROOT / "config.toml"


@pytest.fixture
def shop() -> Shop:
    return Shop(
        currency="IDR",
        shipping_fee=10000,
        order_expiry=timedelta(hours=24),
        merchants=(MERCHANT,),
    )


@pytest.fixture
async def catalog(sessions: Sessions, config_path: Path) -> None:
    """The demo catalog of the shipped config.toml."""
    config = load_config(config_path, environ={})
    async with transaction(sessions) as session:
        await sync_catalog(session, config.load_catalog(), "IDR", update_existing=False)


async def add_customer(
    sessions: Sessions, chat_id: str = "1001", channel: str = "telegram"
) -> int:
    async with transaction(sessions) as session:
        customer = Customer(channel=channel, channel_user_id=chat_id, name="Siti", language="id")
        session.add(customer)
        await session.flush()
        return customer.id


@pytest.fixture
async def customer_id(sessions: Sessions, catalog: None) -> int:
    return await add_customer(sessions)


async def new_order(
    uow: UnitOfWork,
    shop: Shop,
    customer_id: int,
    *lines: tuple[str, int],
    now: datetime | None = None,
) -> str:
    """Place an order, by default at the real time: the running app pays it at the real time,
    so a fixed default date would expire every such order once the calendar passes it."""
    cart = [CartLine(sku, qty) for sku, qty in (lines or (("KOPI-SUSU", 2),))]
    async with uow() as store:
        placed_at = now or datetime.now(UTC)
        order = await place_order(
            store, shop, customer_id=customer_id, cart=cart, delivery=Delivery(), now=placed_at
        )
        return order.code


def sandbox_on(config_text: str) -> str:
    """A config.toml's text with the sandbox enabled and the tests' secret written in."""
    off = "[payments.sandbox]\nenabled = false"
    assert off in config_text
    text = config_text.replace(off, "[payments.sandbox]\nenabled = true")
    return text.replace('"${CHECKOUT_SANDBOX_SECRET}"', f'"{SANDBOX_SECRET}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_config(
    db_url: str, port: int, *, telegram: Mapping[str, Any] | None = None, **sandbox: object
) -> Config:
    """The shipped config, pointed at this test's database and port.

    `telegram`: settings of the [telegram] section to change (e.g. enabled, token, mode,
    webhook_secret, api_url pointed at a fake Bot API).
    """
    config = load_config(ROOT / "config.toml", environ={})
    knobs = {"enabled": True, "secret": SANDBOX_SECRET, "auto_pay_after": 0, **sandbox}
    return replace(
        config,
        database=replace(config.database, url=db_url),
        server=replace(config.server, port=port, public_url=f"http://127.0.0.1:{port}"),
        telegram=replace(config.telegram, merchant_chat_ids=(9001,), **(telegram or {})),
        payments=replace(config.payments, sandbox=replace(config.payments.sandbox, **knobs)),
        # Off: whether it is due would depend on the hour the suite runs at (it has its own
        # tests in tests/integration/test_daily_summary.py).
        merchant=replace(config.merchant, daily_summary=""),
    )


@dataclass
class Running:
    server: TestServer
    runtime: Runtime

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(running: Running) -> Samples:
    """GET /metrics: (sample name, sorted labels) -> value."""
    async with aiohttp.ClientSession() as http, http.get(running.url("/metrics")) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def status_queries(running: Running) -> dict[tuple[str, str, str], float]:
    """checkout_status_queries_total: (gateway, source, outcome) -> count."""
    return {
        (labels["gateway"], labels["source"], labels["outcome"]): value
        for (name, pairs), value in (await scrape(running)).items()
        if name == "checkout_status_queries_total"
        for labels in [dict(pairs)]
    }


async def start_app(aiohttp_server: Any, config: Config) -> Running:
    app = create_app(config)
    server = await aiohttp_server(app, port=config.server.port)
    return Running(server, app[RUNTIME])


@pytest.fixture
async def running(aiohttp_server: Any, db_url: str) -> Running:
    """The whole app on a real port, on this test's database, with the sandbox gateway."""
    return await start_app(aiohttp_server, make_config(db_url, free_port()))
