"""The command line's commands, one function each: (config, args) -> exit code."""

from __future__ import annotations

import argparse
import asyncio
import sys

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


def run(config: Config, args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app

    web.run_app(
        create_app(config),
        host=config.server.host,
        port=config.server.port,
        print=lambda text: print(text.replace("http://", f"{config.shop.name}: http://")),
    )
    return 0


def sandbox_settle(config: Config, args: argparse.Namespace) -> int:
    """Settle a sandbox payment by hand through the running server's sandbox API."""
    import aiohttp

    from bot.gateways import sandbox_gateway
    from payments.base import PaymentError

    async def settle() -> str:
        async with aiohttp.ClientSession() as http:
            result = await sandbox_gateway(config, http).settle(args.reference, args.outcome)
            return str(result.status)

    try:
        status = asyncio.run(settle())
    except PaymentError as exc:
        print(
            f"checkout-bot: sandbox {args.outcome} {args.reference}: {exc.detail} "
            f"(is `checkout-bot run` serving {config.server.public_url}?)",
            file=sys.stderr,
        )
        return 1
    print(f"{args.reference}: {status}")
    return 0
