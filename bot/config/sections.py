"""One frozen dataclass per config.toml section, except [payments.<name>] (each gateway's
own, payments/gateways/<name>/settings.py, gathered by payments.py next to this file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from bot.config.reader import DURATION, SECRET, URL, ConfigError, meta
from payments.gateways import GATEWAYS
from payments.reconcile.schedule import DEFERRED_PAYMENT, USSD_PUSH, parse_schedule

LANGUAGES: Final = ("id", "en", "sw")
# Status queries a minute per gateway: each gateway's own default (its GatewaySpec), which
# [reconcile.rate_limits] overrides.
RATE_LIMITS: Final = {name: spec.rate_limit for name, spec in GATEWAYS.items()}


@dataclass(frozen=True)
class Shop:
    # the shop's name, in greetings and on the payment pages
    name: str = "Warung Demo"
    # ISO 4217 code of the prices; methods that cannot take it are not offered
    currency: str = "IDR"
    # the customers' languages, from id, en, sw; the first is the fallback
    languages: tuple[str, ...] = LANGUAGES
    # IANA zone of the times shown (expiry, reports)
    timezone: str = "Asia/Jakarta"
    country: str = "ID"  # the region for reading phone numbers typed without +
    shipping_fee: int = 0  # minor units; pickup is free
    # customers may choose pickup instead of delivery
    pickup: bool = True
    # an unpaid order is expired after this and its stock released
    order_expiry: int = field(default=24 * 3600, metadata=meta(DURATION))


@dataclass(frozen=True)
class Database:
    # may hold a password: write it "${CHECKOUT_DATABASE_URL}" (read like a secret)
    url: str = field(
        default="sqlite+aiosqlite:///checkout.db", metadata=meta(SECRET, optional=True)
    )
    pool_size: int = field(default=5, metadata=meta(low=1, high=1000))  # connections per instance


@dataclass(frozen=True)
class Server:
    # the address to listen on; "0.0.0.0" in a container or behind a proxy elsewhere
    host: str = "127.0.0.1"
    # the port to listen on
    port: int = field(default=8080, metadata=meta(low=1, high=65535))
    # where Telegram and the gateways reach this server (https:// in production)
    public_url: str = field(default="http://127.0.0.1:8080", metadata=meta(URL))
    # a client sends its headers, then its body, within this, or gets 408 (bot/server.py)
    read_timeout: int = field(default=15, metadata=meta(DURATION, low=1))


@dataclass(frozen=True)
class Callbacks:
    """What the callback route keeps of what it refuses (payments/callbacks/refused.py)."""

    # forged and unreadable callbacks are kept this long, then pruned
    keep_refused: int = field(default=7 * 86400, metadata=meta(DURATION))


@dataclass(frozen=True)
class Api:
    token: str = field(default="", metadata=meta(SECRET, optional=True))  # API off while empty
    # The token bucket of bot/api/guard.py, per token and per instance: `burst` requests at
    # once, refilled at `rate_per_second`; beyond it 429 with Retry-After.
    rate_per_second: float = field(default=10.0, metadata=meta(low=0.001))
    burst: int = field(default=60, metadata=meta(low=1))


@dataclass(frozen=True)
class Merchant:
    """[merchant]: what the shop's staff get besides the paid orders (bot/merchant/summary.py)."""

    daily_summary: str = "21:00"  # local time (shop.timezone) of the daily summary; "": off
    low_stock: int = 5  # the summary names products with this many units left or fewer

    def __post_init__(self) -> None:
        if self.daily_summary and not _clock_time(self.daily_summary):
            raise ConfigError("merchant.daily_summary", 'a time of day like "21:00", or ""')
        if self.low_stock < 0:
            raise ConfigError("merchant.low_stock", "cannot be negative")

    @property
    def summary_at(self) -> tuple[int, int] | None:
        """(hour, minute) of the daily summary, None when it is off."""
        return _clock_time(self.daily_summary) if self.daily_summary else None


def _clock_time(text: str) -> tuple[int, int] | None:
    hour, colon, minute = text.strip().partition(":")
    if not (colon and hour.isascii() and hour.isdigit() and minute.isascii()):
        return None
    if not (minute.isdigit() and len(minute) == 2 and 1 <= len(hour) <= 2):
        return None
    h, m = int(hour), int(minute)
    return (h, m) if h < 24 and m < 60 else None


@dataclass(frozen=True)
class Telegram:
    # talk to customers and merchants on Telegram
    enabled: bool = False
    # from @BotFather
    token: str = field(default="", metadata=meta(SECRET))
    # polling: one instance, no public URL needed; webhook: several instances behind HTTPS
    mode: str = field(default="polling", metadata=meta(choices=("polling", "webhook")))
    # required in webhook mode (bot/config/load.py)
    webhook_secret: str = field(default="", metadata=meta(SECRET, optional=True))
    # the Bot API (a local Bot API server, or a fake in tests)
    api_url: str = field(default="https://api.telegram.org", metadata=meta(URL))
    # chats told of paid orders and allowed the merchant commands
    merchant_chat_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved template for one notice kind, sent outside the 24-hour window
    (bot/channels/whatsapp/sender.py); its body takes the order code, amount and method."""

    name: str
    language: str = "id"


@dataclass(frozen=True)
class WhatsApp:
    # refused until this version has a WhatsApp channel
    enabled: bool = False
    # the WhatsApp Business number's id
    phone_number_id: str = ""
    access_token: str = field(default="", metadata=meta(SECRET))
    app_secret: str = field(default="", metadata=meta(SECRET))
    verify_token: str = field(default="", metadata=meta(SECRET))
    # the Graph API
    api_url: str = field(default="https://graph.facebook.com/v23.0", metadata=meta(URL))
    # WhatsApp numbers told of paid orders
    merchant_numbers: tuple[str, ...] = ()
    templates: dict[str, WhatsAppTemplate] = field(default_factory=dict)  # notice kind -> one


LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Logging:
    """How much is logged and in which shape (bot/logs.py)."""

    # our own lines (bot, payments, storage); -v on the command line makes it DEBUG
    level: str = field(default="INFO", metadata=meta(choices=LOG_LEVELS))
    # every library's lines (aiohttp, SQLAlchemy, PTB, APScheduler, Alembic); -vv: DEBUG
    libraries: str = field(default="WARNING", metadata=meta(choices=LOG_LEVELS))
    # "text": one line per record; "json": one JSON object per line, for a log shipper
    format: str = field(default="text", metadata=meta(choices=("text", "json")))


@dataclass(frozen=True)
class Email:
    """[email]: receipts by SMTP for customers who gave an address (bot/channels/email/)."""

    enabled: bool = False
    host: str = ""  # the SMTP server; required when enabled
    port: int = field(default=587, metadata=meta(low=1, high=65535))
    # starttls (port 587), tls (port 465) or none (a relay on localhost only)
    security: str = field(default="starttls", metadata=meta(choices=("starttls", "tls", "none")))
    user: str = ""  # the SMTP login; empty: no login
    password: str = field(default="", metadata=meta(SECRET, optional=True))  # with user
    sender: str = ""  # the From address, e.g. "Warung Demo <receipts@example.com>"
    timeout: int = field(default=20, metadata=meta(DURATION, low=1))  # per message


@dataclass(frozen=True)
class CatalogSection:
    # a .toml or .csv catalog, relative to config.toml; instead of the lists below
    file: str = ""
    # [[catalog.categories]]: id and name per language
    categories: tuple[dict[str, Any], ...] = ()
    # [[catalog.products]]: sku, category, name, description, price, stock
    products: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Reconcile:
    """The poller that confirms payments whose callbacks never came."""

    enabled: bool = True  # false: no background jobs (tests); "check status" still works
    # how often due payments are claimed
    tick: int = field(default=1, metadata=meta(DURATION, low=1))
    batch: int = field(default=200, metadata=meta(low=1))  # payments claimed per tick at most
    # checks under way at once (asking, or waiting for their gateway)
    concurrency: int = field(default=64, metadata=meta(low=1))
    # status queries in flight per gateway
    gateway_concurrency: int = field(default=8, metadata=meta(low=1))
    # another instance may take over a check after this
    lease: int = field(default=120, metadata=meta(DURATION, low=1))
    # every interval is stretched or shrunk by up to this share
    jitter: float = field(default=0.05, metadata=meta(low=0, high=0.99))
    # when a USSD push payment is asked about; then one final check
    ussd: tuple[str, ...] = USSD_PUSH
    # when a virtual-account payment is asked about
    va: tuple[str, ...] = DEFERRED_PAYMENT
    # when a QRIS payment is asked about
    qris: tuple[str, ...] = DEFERRED_PAYMENT
    # when a payment-link payment is asked about
    link: tuple[str, ...] = DEFERRED_PAYMENT
    grace: int = field(default=300, metadata=meta(DURATION))  # after expiry, before giving up
    # one reminder this long before a VA/QRIS/link payment expires ...
    reminder_before: int = field(default=3600, metadata=meta(DURATION))
    # ... when it lives at least this long
    reminder_min_life: int = field(default=7200, metadata=meta(DURATION))
    no_prompt_after: int = field(default=60, metadata=meta(DURATION))  # USSD push
    check_min_interval: int = field(default=10, metadata=meta(DURATION, low=1))  # per payment
    # status queries a minute per gateway, merged with each gateway's own default
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(RATE_LIMITS))
    # per minute, for a gateway not in rate_limits
    default_rate_limit: int = field(default=60, metadata=meta(low=1))
    # unknown outcome (timeout, 5xx, 429): back off up to this
    backoff_max: int = field(default=300, metadata=meta(DURATION))
    # unknown outcomes in a row that pause a gateway
    circuit_failures: int = field(default=5, metadata=meta(low=1))
    circuit_open: int = field(default=60, metadata=meta(DURATION))  # doubles up to the max
    # the longest pause of a failing gateway
    circuit_open_max: int = field(default=900, metadata=meta(DURATION))
    # how often unpaid orders past their expiry are expired
    order_sweep: int = field(default=30, metadata=meta(DURATION, low=1))
    # alert the merchants when in this window a gateway had ...
    outage_window: int = field(default=3600, metadata=meta(DURATION))
    # ... this many payments confirmed by queries and none by callback ...
    outage_min_paid: int = field(default=3, metadata=meta(low=1))
    # ... at most this often per gateway
    outage_alert_every: int = field(default=6 * 3600, metadata=meta(DURATION))

    def __post_init__(self) -> None:
        for kind in ("ussd", "va", "qris", "link"):
            try:
                parse_schedule(getattr(self, kind))
            except ValueError as exc:
                raise ConfigError(f"reconcile.{kind}", str(exc)) from None
        for name, limit in self.rate_limits.items():
            if limit < 1:
                raise ConfigError(f"reconcile.rate_limits.{name}", "must be at least 1")
