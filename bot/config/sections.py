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
    url: str = "sqlite+aiosqlite:///checkout.db"
    pool_size: int = 5


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = field(default="http://127.0.0.1:8080", metadata=meta(URL))
    read_timeout: int = field(default=15, metadata=meta(DURATION))  # bot/server.py


@dataclass(frozen=True)
class Callbacks:
    """[callbacks]: what the callback route keeps of what it refuses
    (payments/callbacks/refused.py)."""

    keep_refused: int = field(default=7 * 86400, metadata=meta(DURATION))


@dataclass(frozen=True)
class Api:
    token: str = field(default="", metadata=meta(SECRET))  # the API is off while empty


@dataclass(frozen=True)
class Telegram:
    enabled: bool = False
    token: str = field(default="", metadata=meta(SECRET))
    mode: str = "polling"
    webhook_secret: str = field(default="", metadata=meta(SECRET))
    api_url: str = field(default="https://api.telegram.org", metadata=meta(URL))
    merchant_chat_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved template for one notice kind, sent outside the 24-hour window
    (bot/channels/whatsapp/sender.py); its body takes the order code, amount and method."""

    name: str
    language: str = "id"


@dataclass(frozen=True)
class WhatsApp:
    enabled: bool = False
    phone_number_id: str = ""
    access_token: str = field(default="", metadata=meta(SECRET))
    app_secret: str = field(default="", metadata=meta(SECRET))
    verify_token: str = field(default="", metadata=meta(SECRET))
    api_url: str = field(default="https://graph.facebook.com/v23.0", metadata=meta(URL))
    merchant_numbers: tuple[str, ...] = ()
    templates: dict[str, WhatsAppTemplate] = field(default_factory=dict)  # notice kind -> one


@dataclass(frozen=True)
class CatalogSection:
    file: str = ""
    categories: tuple[dict[str, Any], ...] = ()
    products: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Reconcile:
    """[reconcile]: the poller that confirms payments whose callbacks never came."""

    enabled: bool = True  # false: no background jobs (tests); "check status" still works
    tick: int = field(default=1, metadata=meta(DURATION))
    batch: int = 200  # payments claimed per tick at most
    concurrency: int = 64  # checks under way at once (asking, or waiting for their gateway)
    gateway_concurrency: int = 8  # status queries in flight per gateway
    lease: int = field(default=120, metadata=meta(DURATION))
    jitter: float = 0.05  # every interval is stretched or shrunk by up to this share
    ussd: tuple[str, ...] = USSD_PUSH
    va: tuple[str, ...] = DEFERRED_PAYMENT
    qris: tuple[str, ...] = DEFERRED_PAYMENT
    link: tuple[str, ...] = DEFERRED_PAYMENT
    grace: int = field(default=300, metadata=meta(DURATION))  # after expiry, before giving up
    reminder_before: int = field(default=3600, metadata=meta(DURATION))
    reminder_min_life: int = field(default=7200, metadata=meta(DURATION))
    no_prompt_after: int = field(default=60, metadata=meta(DURATION))  # USSD push
    check_min_interval: int = field(default=10, metadata=meta(DURATION))  # per payment
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(RATE_LIMITS))
    default_rate_limit: int = 60  # per minute, for a gateway not in rate_limits
    backoff_max: int = field(default=300, metadata=meta(DURATION))
    circuit_failures: int = 5  # unknown outcomes in a row that pause a gateway
    circuit_open: int = field(default=60, metadata=meta(DURATION))  # doubles up to the max
    circuit_open_max: int = field(default=900, metadata=meta(DURATION))
    order_sweep: int = field(default=30, metadata=meta(DURATION))
    outage_window: int = field(default=3600, metadata=meta(DURATION))
    outage_min_paid: int = 3
    outage_alert_every: int = field(default=6 * 3600, metadata=meta(DURATION))

    def __post_init__(self) -> None:
        for kind in ("ussd", "va", "qris", "link"):
            try:
                parse_schedule(getattr(self, kind))
            except ValueError as exc:
                raise ConfigError(f"reconcile.{kind}", str(exc)) from None
        if not 0 <= self.jitter < 1:
            raise ConfigError("reconcile.jitter", "expected a share from 0 up to 1")
        for name, value in [("tick", self.tick), ("batch", self.batch), ("lease", self.lease)]:
            if value < 1:
                raise ConfigError(f"reconcile.{name}", "must be at least 1")
