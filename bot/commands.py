"""The command line's commands, one function each: (config, args) -> exit code."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot import installed_version
from bot.catalog.spec import load_catalog_file
from bot.catalog.sync import sync_catalog
from bot.config import Config
from storage.db import is_sqlite, make_engine, make_sessions, transaction, upgrade_sync

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


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
    """The start-up block (bot/startup.py), then serve until Ctrl-C or SIGTERM; a channel that
    cannot start is one line and exit 1."""
    import errno

    from aiohttp import web

    from bot.app import create_app
    from bot.channels import ChannelStartFailed
    from bot.server import handler_options
    from bot.startup import startup_block

    print("\n".join(startup_block(config, installed_version())), flush=True)
    where = f"http://{config.server.host}:{config.server.port}"
    try:
        web.run_app(
            create_app(config),
            host=config.server.host,
            port=config.server.port,
            **handler_options(config.server.read_timeout),
            print=lambda _: print(f"serving on {where} (Ctrl-C to stop)", flush=True),
        )
    except ChannelStartFailed as exc:
        raise CommandFailed(str(exc)) from None
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise CommandFailed(f"cannot listen on {where}: {exc.strerror}") from None
    return 0


def sandbox_settle(config: Config, args: argparse.Namespace) -> int:
    """Settle a sandbox payment by hand through the running server's sandbox API."""
    import aiohttp

    from bot.gateways import sandbox_gateway
    from payments.base import PaymentError

    if not config.payments.sandbox.enabled:
        print(f"checkout-bot: the sandbox is not enabled in {config.path}", file=sys.stderr)
        return 2

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


def reconcile_once(config: Config, args: argparse.Namespace) -> int:
    """Ask every gateway about every open payment once; print what changed and who is down.

    Exits 1 when a gateway could not be asked, so that cron notices; the poller of a running
    service keeps trying either way.
    """
    if not args.once:
        print(
            "checkout-bot: reconcile asks the gateways once with --once (for cron or by hand); "
            "`checkout-bot run` reconciles continuously by itself",
            file=sys.stderr,
        )
        return 2
    from functools import partial

    import aiohttp

    from bot.gateways import build_gateways
    from bot.runtime import utcnow
    from bot.scheduler import make_context
    from payments.reconcile.poller import OnceReport
    from payments.reconcile.poller import reconcile_once as once
    from storage.reconcile_repo import reconcile_transaction

    ready_database(config.database.url)

    async def run() -> OnceReport:
        engine = make_engine(config.database.url, pool_size=2)
        sessions = make_sessions(engine)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
                gateways = build_gateways(config, http)
                uow = partial(reconcile_transaction, sessions)
                return await once(make_context(config, uow, gateways, utcnow))
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    for line in report.lines():
        print(line)
    return 1 if report.down else 0


def demo_config_path(path: Path) -> Path:
    """./config.toml when there is one, else the copy shipped in the package: the demo runs
    after `pip install` alone, from any directory."""
    if path.exists() or path != Path("config.toml"):
        return path
    from bot.config import DEFAULT_FILE

    return DEFAULT_FILE


def demo(config: Config, args: argparse.Namespace) -> int:
    """A whole checkout in the terminal with the sandbox gateway (bot/demo.py)."""
    import os

    from bot.demo import run_demo
    from bot.logs import quiet

    if not args.verbose:
        quiet()  # the chat is the output
    language = args.language or os.environ.get("LANG", "")
    return asyncio.run(
        run_demo(
            config,
            auto=args.auto,
            language=language,
            stdin=sys.stdin,
            stdout=sys.stdout,
            channel=getattr(args, "channel", "console"),
        )
    )


class CommandFailed(Exception):
    """What went wrong, in one line for the operator: `checkout-bot: ...`, exit 1."""


def ready_database(url: str) -> None:
    """Read-only commands never migrate: a missing or older schema is a line saying what to
    run instead; an unreachable database is one line too, never a traceback."""
    from storage.db import TRANSIENT, schema_problem

    try:
        problem = asyncio.run(schema_problem(url))
    except TRANSIENT as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CommandFailed(f"cannot reach the database at {_safe_url(url)}: {first}") from None
    if problem is not None:
        raise CommandFailed(
            f"the database at {_safe_url(url)}: {problem}; run `checkout-bot db upgrade` "
            "(or `checkout-bot run`, which does it on SQLite)"
        )


def _read_orders(config: Config, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one of the API's read queries (bot/api/views.py) against the configured database."""
    ready_database(config.database.url)

    async def run() -> T:
        engine = make_engine(config.database.url, pool_size=1, readonly=True)
        try:
            async with make_sessions(engine)() as session:
                return await query(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def orders_list(config: Config, args: argparse.Namespace) -> int:
    """The newest orders, as `GET /api/orders` lists them."""
    import json

    from bot.api.views import order_table, orders_page

    if args.stuck:
        return _stuck_list(config, args)

    async def query(session: AsyncSession) -> list[dict[str, Any]]:
        orders, _ = await orders_page(session, status=args.status, limit=args.limit, before=None)
        return orders

    orders = _read_orders(config, query)
    if args.json:
        print(json.dumps(orders, ensure_ascii=False, indent=2))
    else:
        print("\n".join(order_table(orders)) if orders else "no orders")
    return 0


def _stuck_list(config: Config, args: argparse.Namespace) -> int:
    """Paid at the gateway but not here (and the other way round), as /stuck lists them."""
    import json
    from datetime import UTC, datetime

    from bot.merchant.events import stuck_payments, stuck_table

    now = datetime.now(UTC)
    stuck = _read_orders(config, lambda session: stuck_payments(session, now, args.limit))
    if args.json:
        print(json.dumps(stuck, ensure_ascii=False, indent=2))
    else:
        print("\n".join(stuck_table(stuck)) if stuck else "no stuck payments")
    return 0


def orders_show(config: Config, args: argparse.Namespace) -> int:
    """One order with its payments and their events, as `GET /api/orders/{code}` shows it."""
    import json

    from bot.api.views import order_detail, order_text

    order = _read_orders(config, lambda session: order_detail(session, args.code))
    if order is None:
        print(f"checkout-bot: there is no order {args.code}", file=sys.stderr)
        return 1
    text = json.dumps(order, ensure_ascii=False, indent=2) if args.json else None
    print(text or "\n".join(order_text(order)))
    return 0
