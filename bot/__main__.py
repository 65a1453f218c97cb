"""The `checkout-bot` command line. Every command takes --config PATH (default ./config.toml)
and -v, before or after the command's name.

A configuration mistake prints one line naming the key and exits 2, never a traceback. The
commands themselves (bot/commands.py) are imported only once the arguments are read, so
`--help` and a usage error never load the database stack.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import installed_version
from payments.orders import OrderStatus

if TYPE_CHECKING:
    from bot.config import Config

Handler = Callable[["Config", argparse.Namespace], int]

EXIT_CODES = """exit codes:
  0    done
  1    failed: a gateway or the database could not be reached, Telegram refused the
       token, an order was not found
  2    usage or configuration error, printed as one line naming the option or the key
  130  interrupted (Ctrl-C)
"""


def _common() -> argparse.ArgumentParser:
    """--config and -v for every (sub)command; SUPPRESS keeps a value given before the
    command's name from being reset by the subcommand's own default."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="the config file (default: ./config.toml)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log our lines at DEBUG; -vv also every library's",
    )
    return common


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    *examples: str,
) -> argparse.ArgumentParser:
    shown = "\n".join(f"  checkout-bot {example}" for example in examples)
    return sub.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}.\n\n{textwrap.fill(description, 79)}",
        epilog=f"example:\n{shown}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common()],
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="checkout-bot",
        description="A Telegram shop bot that takes payments and confirms each one once.",
        epilog="example:\n  checkout-bot --config prod.toml check-config\n"
        "  checkout-bot run --config prod.toml -v\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("config.toml"),
        metavar="PATH",
        help="the config file (default: ./config.toml); also accepted after COMMAND",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log our lines at DEBUG; -vv also every library's; also after COMMAND",
    )
    parser.add_argument(
        "--version", action="version", version=f"checkout-bot {installed_version()}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(
        sub,
        "check-config",
        "check the config file and exit",
        "Reads every key and every secret the enabled sections need, as `run` would, and "
        "prints what would be offered.",
        "check-config --config prod.toml",
    )
    db = _command(
        sub,
        "db",
        "database schema",
        "`db upgrade` brings the schema to this version's. `run` does it by itself on SQLite; "
        "on PostgreSQL run it once per release, before the instances start.",
        "db upgrade --config prod.toml",
    )
    db.add_argument("action", choices=["upgrade"])
    catalog = _command(
        sub,
        "catalog",
        "the product catalog",
        "`catalog import FILE` creates and updates products by SKU from a .toml or .csv file.",
        "catalog import products.csv",
    )
    catalog_sub = catalog.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = _command(
        catalog_sub,
        "import",
        "upsert products from a .toml or .csv file",
        "Products are matched by SKU; what changed is listed, then one summary line.",
        "catalog import products.csv --config prod.toml",
    )
    imp.add_argument("file", type=Path)
    _command(
        sub,
        "run",
        "the service: HTTP server, channels, scheduler",
        "Prints the shop, database, channels, gateways with the callback URL to paste into "
        "each gateway's dashboard, and warnings; then serves until Ctrl-C or SIGTERM.",
        "run --config prod.toml",
        "run -v",
    )
    sandbox = _command(
        sub,
        "sandbox",
        "settle a sandbox payment by hand",
        "Asks the running server's sandbox to pay or fail a payment, as a customer would.",
        "sandbox pay A7K2Q9-1",
    )
    sandbox.add_argument("outcome", choices=["pay", "fail"])
    sandbox.add_argument("reference")
    reconcile = _command(
        sub,
        "reconcile",
        "ask the gateways about open payments now",
        "With --once: one pass over every open payment, then a count of what was asked, what "
        "changed and what failed; exit 1 when a gateway could not be asked (for cron). "
        "`run` does this continuously by itself.",
        "reconcile --once --config prod.toml",
    )
    reconcile.add_argument("--once", action="store_true", help="one pass, then exit")
    demo = _command(
        sub,
        "demo",
        "a whole checkout in the terminal, sandbox payments",
        "No accounts needed: the built-in sandbox gateway pays. Uses ./config.toml when "
        "there is one, else the packaged copy.",
        "demo",
        "demo --auto --language en",
    )
    demo.add_argument("--auto", action="store_true", help="play a scripted customer, then exit")
    demo.add_argument("--language", default="", help="id, en or sw (default: from $LANG)")
    demo.add_argument(
        "--channel",
        choices=["console", "whatsapp"],
        default="console",
        help="whatsapp: show each reply as WhatsApp renders it",
    )
    orders = _command(
        sub,
        "orders",
        "orders, as the HTTP API shows them",
        "Reads only: never changes the database nor its schema.",
        "orders list --status paid",
        "orders show A7K2Q9 --json",
    )
    orders_sub = orders.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = _command(
        orders_sub,
        "list",
        "the newest orders",
        "As GET /api/orders lists them.",
        "orders list --status pending_payment --limit 50",
    )
    listing.add_argument("--status", choices=[str(s) for s in OrderStatus])
    listing.add_argument("--limit", type=_page_size, default=20, help="at most 100 (default 20)")
    listing.add_argument("--json", action="store_true", help="the API's JSON")
    listing.add_argument(
        "--stuck",
        action="store_true",
        help="payments whose last gateway answer and local status disagree",
    )
    show = _command(
        orders_sub,
        "show",
        "one order with its payments and events",
        "As GET /api/orders/{code} shows it.",
        "orders show A7K2Q9",
    )
    show.add_argument("code")
    show.add_argument("--json", action="store_true", help="the API's JSON")
    return parser


def _page_size(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError("a whole number from 1 to 100")
    return int(text)


def _handlers() -> dict[str, Handler]:
    from bot import commands

    def orders(config: Config, args: argparse.Namespace) -> int:
        listing = args.action == "list"
        return (commands.orders_list if listing else commands.orders_show)(config, args)

    return {
        "check-config": commands.check_config,
        "db": commands.db_upgrade,
        "catalog": commands.catalog_import,
        "run": commands.run,
        "sandbox": commands.sandbox_settle,
        "reconcile": commands.reconcile_once,
        "demo": commands.demo,
        "orders": orders,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot import commands
    from bot.config import ConfigError, load_config
    from bot.logs import setup_logging

    setup_logging(None, args.verbose)  # until the config says how
    if args.command == "demo":
        args.config = commands.demo_config_path(args.config)
    try:
        config = load_config(args.config)
        setup_logging(config.logging, args.verbose)
        return _handlers()[args.command](config, args)
    except ConfigError as exc:
        where = "" if exc.key == str(args.config) else f"{args.config}: "
        print(f"checkout-bot: {where}{exc}", file=sys.stderr)
        return 2
    except commands.CommandFailed as exc:
        print(f"checkout-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
