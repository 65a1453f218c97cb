"""What `checkout-bot run` prints before it serves: one block an operator can check at a glance.

The shop, the database, where the server listens and is reached, the API, each channel (and
the webhook URL its platform calls), each enabled gateway with its methods and the exact
callback URL to paste into its dashboard, then the warnings: what would lose callbacks or
money once customers arrive. Made from the config alone, so it is the same whatever started.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from bot.channels import WEBHOOK_PATHS, Channel
from bot.config import Config
from payments.gateways import GATEWAYS

LOOPBACK_NAMES: Final = ("localhost", "ip6-localhost")


def callback_url(config: Config, gateway: str) -> str:
    """Where a gateway sends its callbacks: what each payment names and each dashboard needs."""
    return f"{config.server.public_url}/callbacks/{gateway}"


def real_gateways(config: Config) -> list[str]:
    """Enabled gateways that move real money: every one but those we serve ourselves."""
    return [name for name in config.payments.enabled() if GATEWAYS[name].serve is None]


def startup_block(config: Config, version: str) -> list[str]:
    shop, server = config.shop, config.server
    lines = [
        f"checkout-bot {version}: {shop.name} ({shop.currency}, {shop.timezone}, "
        f"languages {', '.join(shop.languages)})",
        f"  database   {safe_database_url(config.database.url)} ({_database(config)})",
        f"  listening  {server.host}:{server.port}; reached at {server.public_url}",
        f"  api        {_api(config)}",
        "  channels",
        *[f"    {line}" for line in _channels(config)],
        "  gateways",
        *[f"    {line}" for line in _gateways(config)],
    ]
    warnings = startup_warnings(config)
    lines += ["  warnings", *[f"    ! {w}" for w in warnings]] if warnings else []
    return lines


def safe_database_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _database(config: Config) -> str:
    if config.database.url.startswith("sqlite"):
        return "SQLite: one instance; its schema is upgraded at start"
    pool = config.database.pool_size
    return f"PostgreSQL: {pool} connections per instance; `checkout-bot db upgrade` per release"


def _api(config: Config) -> str:
    if not config.api.token:
        return "off (api.token is empty)"
    public = config.server.public_url
    return f"on at {public}/api/ (bearer token), OpenAPI at {public}/api/openapi.json"


def _telegram(config: Config) -> str:
    tg = config.telegram
    if not tg.enabled:
        return "off"
    if tg.mode == "polling":
        return f"polling {tg.api_url} (one instance only)"
    return f"webhook {config.server.public_url}{WEBHOOK_PATHS[Channel.TELEGRAM]}"


def _whatsapp(config: Config) -> str:
    if not config.whatsapp.enabled:
        return "off"
    return f"webhook {config.server.public_url}{WEBHOOK_PATHS[Channel.WHATSAPP]}"


# One line per channel an operator configures; the console is the demo's, never the server's.
CHANNEL_LINES: Final[dict[Channel, Callable[[Config], str]]] = {
    Channel.TELEGRAM: _telegram,
    Channel.WHATSAPP: _whatsapp,
}


def _channels(config: Config) -> list[str]:
    return [f"{channel:<10} {describe(config)}" for channel, describe in CHANNEL_LINES.items()]


def _gateways(config: Config) -> list[str]:
    enabled = config.payments.enabled()
    if not enabled:
        return ["none enabled"]
    lines = []
    for name, section in enabled.items():
        lines.append(f"{name:<10} methods {', '.join(section.methods)}")
        lines.append(f"{'':<10} callback URL {callback_url(config, name)}")
        if GATEWAYS[name].serve is not None:
            lines.append(f"{'':<10} pay page {config.server.public_url}/{name}/")
    return lines


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def startup_warnings(config: Config) -> list[str]:
    """What an operator must know before this process faces the internet."""
    public = config.server.public_url
    real = real_gateways(config)
    warnings = []
    if config.payments.sandbox.enabled:
        warnings.append(
            "the sandbox gateway is ON: anyone who reaches /sandbox/ can pay its payments "
            f"({public}/sandbox/); turn it off in [payments.sandbox] "
            "before customers can reach this server"
        )
        if real:
            warnings.append(
                f"the sandbox is on next to {', '.join(real)}: customers are offered a "
                "gateway that pays for free (payments.sandbox.allow_with_real_gateways)"
            )
    if not config.payments.enabled():
        warnings.append("no payment gateway is enabled: orders can be placed but not paid")
    called_back = [*real, *(["telegram"] if _telegram_webhook(config) else [])]
    if called_back and is_loopback(public):
        warnings.append(
            f"server.public_url is {public}, which {', '.join(called_back)} cannot reach: "
            "set it to this server's public HTTPS address, or no callback arrives"
        )
    elif called_back and urlsplit(public).scheme != "https":
        warnings.append(
            f"server.public_url is not HTTPS ({public}): {', '.join(called_back)} "
            "call back only to an https:// address"
        )
    if not config.api.token:
        warnings.append("api.token is empty: the HTTP API is off")
    return warnings


def _telegram_webhook(config: Config) -> bool:
    return config.telegram.enabled and config.telegram.mode == "webhook"
