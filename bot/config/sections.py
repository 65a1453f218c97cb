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
    name: str = "Warung Demo"
    currency: str = "IDR"
    languages: tuple[str, ...] = LANGUAGES
    timezone: str = "Asia/Jakarta"
    country: str = "ID"  # the region for reading phone numbers typed without +
    shipping_fee: int = 0  # minor units; pickup is free
    pickup: bool = True
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
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=meta(low=1, high=65535))
    public_url: str = field(default="http://127.0.0.1:8080", metadata=meta(URL))
    read_timeout: int = field(default=15, metadata=meta(DURATION, low=1))  # bot/server.py


@dataclass(frozen=True)
class Callbacks:
    """[callbacks]: what the callback route keeps of what it refuses
    (payments/callbacks/refused.py)."""

    keep_refused: int = field(default=7 * 86400, metadata=meta(DURATION))


@dataclass(frozen=True)
class Api:
    token: str = field(default="", metadata=meta(SECRET, optional=True))  # API off while empty


@dataclass(frozen=True)
class Telegram:
    enabled: bool = False
    token: str = field(default="", metadata=meta(SECRET))
    mode: str = field(default="polling", metadata=meta(choices=("polling", "webhook")))
    # required in webhook mode (bot/config/load.py)
    webhook_secret: str = field(default="", metadata=meta(SECRET, optional=True))
    api_url: str = field(default="https://api.telegram.org", metadata=meta(URL))
    merchant_chat_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class WhatsApp:
    enabled: bool = False
    phone_number_id: str = ""
    access_token: str = field(default="", metadata=meta(SECRET))
    app_secret: str = field(default="", metadata=meta(SECRET))
    verify_token: str = field(default="", metadata=meta(SECRET))
    api_url: str = field(default="https://graph.facebook.com/v23.0", metadata=meta(URL))
    merchant_numbers: tuple[str, ...] = ()


LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Logging:
    """[logging]: how much is logged and in which shape (bot/logs.py)."""

    # our own lines (bot, payments, storage); -v on the command line makes it DEBUG
    level: str = field(default="INFO", metadata=meta(choices=LOG_LEVELS))
    # every library's lines (aiohttp, SQLAlchemy, PTB, APScheduler, Alembic); -vv: DEBUG
    libraries: str = field(default="WARNING", metadata=meta(choices=LOG_LEVELS))
    # "text": one line per record; "json": one JSON object per line, for a log shipper
    format: str = field(default="text", metadata=meta(choices=("text", "json")))


@dataclass(frozen=True)
class CatalogSection:
    file: str = ""
    categories: tuple[dict[str, Any], ...] = ()
    products: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Reconcile:
    """[reconcile]: the poller that confirms payments whose callbacks never came."""

    enabled: bool = True  # false: no background jobs (tests); "check status" still works
    tick: int = field(default=1, metadata=meta(DURATION, low=1))
    batch: int = field(default=200, metadata=meta(low=1))  # payments claimed per tick at most
    # checks under way at once (asking, or waiting for their gateway)
    concurrency: int = field(default=64, metadata=meta(low=1))
    # status queries in flight per gateway
    gateway_concurrency: int = field(default=8, metadata=meta(low=1))
    lease: int = field(default=120, metadata=meta(DURATION, low=1))
    # every interval is stretched or shrunk by up to this share
    jitter: float = field(default=0.05, metadata=meta(low=0, high=0.99))
    ussd: tuple[str, ...] = USSD_PUSH
    va: tuple[str, ...] = DEFERRED_PAYMENT
    qris: tuple[str, ...] = DEFERRED_PAYMENT
    link: tuple[str, ...] = DEFERRED_PAYMENT
    grace: int = field(default=300, metadata=meta(DURATION))  # after expiry, before giving up
    reminder_before: int = field(default=3600, metadata=meta(DURATION))
    reminder_min_life: int = field(default=7200, metadata=meta(DURATION))
    no_prompt_after: int = field(default=60, metadata=meta(DURATION))  # USSD push
    check_min_interval: int = field(default=10, metadata=meta(DURATION, low=1))  # per payment
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(RATE_LIMITS))
    # per minute, for a gateway not in rate_limits
    default_rate_limit: int = field(default=60, metadata=meta(low=1))
    backoff_max: int = field(default=300, metadata=meta(DURATION))
    # unknown outcomes in a row that pause a gateway
    circuit_failures: int = field(default=5, metadata=meta(low=1))
    circuit_open: int = field(default=60, metadata=meta(DURATION))  # doubles up to the max
    circuit_open_max: int = field(default=900, metadata=meta(DURATION))
    order_sweep: int = field(default=30, metadata=meta(DURATION, low=1))
    outage_window: int = field(default=3600, metadata=meta(DURATION))
    outage_min_paid: int = field(default=3, metadata=meta(low=1))
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
