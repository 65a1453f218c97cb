"""The command line's commands, one function each: (config, args) -> exit code."""

from __future__ import annotations

import argparse
import asyncio

from bot.catalog import load_catalog_file
from bot.catalog_sync import sync_catalog
from bot.config import Config
from storage.db import is_sqlite, make_engine, make_sessions, transaction, upgrade_sync


def check_config(config: Config, args: argparse.Namespace) -> int:
    methods = ", ".join(str(m) for m in config.payments.method_ids()) or "none"
    products = len(config.load_catalog().products)
    print(
        f"{config.path}: ok ({config.shop.name}, {config.shop.currency}; methods: {methods}; "
        f"{products} products)"
    )
    return 0


def db_upgrade(config: Config, args: argparse.Namespace) -> int:
    upgrade_sync(config.database.url)
    print(f"database schema is up to date ({_safe_url(config.database.url)})")
    return 0


def catalog_import(config: Config, args: argparse.Namespace) -> int:
    catalog = load_catalog_file(args.file, config.shop.currency)
    if is_sqlite(config.database.url):
        upgrade_sync(config.database.url)

    async def run() -> list[str]:
        engine = make_engine(config.database.url, pool_size=1)
        try:
            async with transaction(make_sessions(engine)) as session:
                report = await sync_catalog(
                    session, catalog, config.shop.currency, update_existing=True
                )
            return report.lines()
        finally:
            await engine.dispose()

    for line in asyncio.run(run()):
        print(line)
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
