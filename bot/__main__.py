"""The `checkout-bot` command line. Every command takes --config PATH (default ./config.toml).

A configuration mistake prints one line naming the key and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import commands
from bot.config import Config, ConfigError, load_config
from payments.orders import OrderStatus

Handler = Callable[[Config, argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="checkout-bot", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("check-config", help="check config.toml and exit")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    catalog = sub.add_parser("catalog", help="the product catalog")
    catalog_sub = catalog.add_subparsers(dest="action", required=True)
    imp = catalog_sub.add_parser("import", help="upsert products from a .toml or .csv file")
    imp.add_argument("file", type=Path)
    sub.add_parser("run", help="the service: HTTP server, channels, scheduler")
    sandbox = sub.add_parser("sandbox", help="settle a sandbox payment by hand")
    sandbox.add_argument("outcome", choices=["pay", "fail"])
    sandbox.add_argument("reference")
    reconcile = sub.add_parser("reconcile", help="ask the gateways about open payments now")
    reconcile.add_argument("--once", action="store_true", required=True, help="one pass")
    demo = sub.add_parser("demo", help="a whole checkout in the terminal, sandbox payments")
    demo.add_argument("--auto", action="store_true", help="play a scripted customer, then exit")
    demo.add_argument("--language", default="", help="id, en or sw (default: from $LANG)")
    demo.add_argument(
        "--channel",
        choices=["console", "whatsapp"],
        default="console",
        help="whatsapp: show each reply as WhatsApp renders it",
    )
    orders = sub.add_parser("orders", help="orders, as the HTTP API shows them")
    orders_sub = orders.add_subparsers(dest="action", required=True)
    listing = orders_sub.add_parser("list", help="the newest orders")
    listing.add_argument("--status", choices=[str(s) for s in OrderStatus])
    listing.add_argument("--limit", type=_page_size, default=20, help="at most 100 (default 20)")
    listing.add_argument("--json", action="store_true", help="the API's JSON")
    show = orders_sub.add_parser("show", help="one order with its payments and events")
    show.add_argument("code")
    show.add_argument("--json", action="store_true", help="the API's JSON")
    return parser


def _page_size(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError("a whole number from 1 to 100")
    return int(text)


def _orders(config: Config, args: argparse.Namespace) -> int:
    return (commands.orders_list if args.action == "list" else commands.orders_show)(config, args)


HANDLERS: dict[str, Handler] = {
    "check-config": commands.check_config,
    "db": commands.db_upgrade,
    "catalog": commands.catalog_import,
    "run": commands.run,
    "sandbox": commands.sandbox_settle,
    "reconcile": commands.reconcile_once,
    "demo": commands.demo,
    "orders": _orders,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "demo":
        args.config = commands.demo_config_path(args.config)
    try:
        config = load_config(args.config)
        return HANDLERS[args.command](config, args)
    except ConfigError as exc:
        where = "" if exc.key == str(args.config) else f"{args.config}: "
        print(f"checkout-bot: {where}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
