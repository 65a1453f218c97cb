"""config.toml -> frozen dataclasses. The only reader of config.toml and the environment.

A mistake is a `ConfigError` naming the key, raised at start-up, never a crash later.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import list_currencies

from bot.catalog import Catalog, load_catalog_file, parse_catalog
from bot.configload import DURATION, SECRET, URL, ConfigError, build, meta
from payments import METHODS
from payments.base import MethodId
from payments.reconcile.schedule import DEFERRED_PAYMENT, USSD_PUSH, parse_schedule

__all__ = ["Config", "ConfigError", "load_config"]

LANGUAGES: Final = ("id", "en", "sw")


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
class WhatsApp:
    enabled: bool = False
    phone_number_id: str = ""
    access_token: str = field(default="", metadata=meta(SECRET))
    app_secret: str = field(default="", metadata=meta(SECRET))
    verify_token: str = field(default="", metadata=meta(SECRET))
    api_url: str = field(default="https://graph.facebook.com/v23.0", metadata=meta(URL))
    merchant_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sandbox:
    """[payments.sandbox]: a gateway that pays for free, so it is off unless a file enables it
    (the demo and the tests do that themselves), and never quietly next to a real gateway."""

    enabled: bool = False
    allow_with_real_gateways: bool = False
    methods: tuple[str, ...] = ("va:bca", "qris", "link", "ussd")
    secret: str = field(default="", metadata=meta(SECRET))  # signs its callbacks: required
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    auto_pay_after: int = field(default=0, metadata=meta(DURATION))  # 0: pay by hand
    callback_delay: int = field(default=0, metadata=meta(DURATION))
    drop_share: float = 0.0
    duplicate_share: float = 0.0


@dataclass(frozen=True)
class Midtrans:
    enabled: bool = False
    base_url: str = field(default="https://api.sandbox.midtrans.com", metadata=meta(URL))
    snap_url: str = field(default="https://app.sandbox.midtrans.com/snap", metadata=meta(URL))
    server_key: str = field(default="${MIDTRANS_SERVER_KEY}", metadata=meta(SECRET))
    methods: tuple[str, ...] = ("link", "va:bca", "va:bni", "va:bri", "qris")
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


@dataclass(frozen=True)
class Ipaymu:
    enabled: bool = False
    base_url: str = field(default="https://sandbox.ipaymu.com", metadata=meta(URL))
    va: str = field(default="${IPAYMU_VA}", metadata=meta(SECRET))
    api_key: str = field(default="${IPAYMU_API_KEY}", metadata=meta(SECRET))
    methods: tuple[str, ...] = ("link", "va:bca", "va:bni", "qris")
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


GatewaySection = Sandbox | Midtrans | Ipaymu


@dataclass(frozen=True)
class Payments:
    sandbox: Sandbox = Sandbox()
    midtrans: Midtrans = Midtrans()
    ipaymu: Ipaymu = Ipaymu()

    def enabled(self) -> dict[str, GatewaySection]:
        """Each enabled gateway's section by name."""
        sections: dict[str, GatewaySection] = {
            "sandbox": self.sandbox,
            "midtrans": self.midtrans,
            "ipaymu": self.ipaymu,
        }
        return {name: s for name, s in sections.items() if s.enabled}

    def method_ids(self) -> list[MethodId]:
        return [MethodId.parse(f"{n}:{m}") for n, s in self.enabled().items() for m in s.methods]


@dataclass(frozen=True)
class CatalogSection:
    file: str = ""
    categories: tuple[dict[str, Any], ...] = ()
    products: tuple[dict[str, Any], ...] = ()


# Status queries a minute per gateway, from the notes in gateways/ where they give a number
# (ClickPesa: 120 per IP; M-Pesa: "poll gently"), cautious guesses elsewhere.
RATE_LIMITS: Final = {
    "sandbox": 600, "midtrans": 300, "ipaymu": 60, "xendit": 300, "clickpesa": 120,
    "stripe": 600, "mpesa": 30,
}  # fmt: skip


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


@dataclass(frozen=True)
class Config:
    shop: Shop = Shop()
    database: Database = Database()
    server: Server = Server()
    callbacks: Callbacks = Callbacks()
    api: Api = Api()
    telegram: Telegram = Telegram()
    whatsapp: WhatsApp = WhatsApp()
    payments: Payments = Payments()
    catalog: CatalogSection = CatalogSection()
    reconcile: Reconcile = Reconcile()
    path: Path = Path("config.toml")

    def load_catalog(self) -> Catalog:
        if self.catalog.file:
            return load_catalog_file(self.path.parent / self.catalog.file, self.shop.currency)
        raw = {
            "categories": list(self.catalog.categories),
            "products": list(self.catalog.products),
        }
        return parse_catalog(raw, self.shop.currency, "catalog")


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read, check and freeze the configuration; every problem names its key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found (pass --config PATH)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    raw.pop("path", None)
    config = build(Config, raw, "", os.environ if environ is None else environ)
    config = Config(**{**config.__dict__, "path": path})
    _check(config)
    return config


def _check(config: Config) -> None:
    shop = config.shop
    if shop.currency not in list_currencies():
        raise ConfigError("shop.currency", f"not an ISO 4217 currency code: {shop.currency!r}")
    try:
        ZoneInfo(shop.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("shop.timezone", f"unknown time zone {shop.timezone!r}") from None
    for i, lang in enumerate(shop.languages):
        if lang not in LANGUAGES:
            raise ConfigError(f"shop.languages[{i}]", f"{lang!r} is not one of {LANGUAGES}")
    if shop.shipping_fee < 0:
        raise ConfigError("shop.shipping_fee", "cannot be negative")
    if not config.database.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError("database.url", "use sqlite+aiosqlite:/// or postgresql+asyncpg://")
    if config.telegram.mode not in ("polling", "webhook"):
        raise ConfigError("telegram.mode", "expected 'polling' or 'webhook'")
    _check_telegram(config.telegram)
    _check_sandbox(config.payments)
    _check_methods(config.payments)
    config.load_catalog()


def _check_telegram(tg: Telegram) -> None:
    if not tg.enabled:
        return
    if not tg.token:
        raise ConfigError("telegram.token", "required when telegram is enabled")
    if tg.mode == "webhook" and not tg.webhook_secret:
        raise ConfigError("telegram.webhook_secret", "required in webhook mode")


def _check_sandbox(payments: Payments) -> None:
    sandbox = payments.sandbox
    if not sandbox.enabled:
        return
    if len(sandbox.secret) < 16:
        raise ConfigError(
            "payments.sandbox.secret",
            "required when the sandbox is enabled (16 characters or more)",
        )
    real = sorted(name for name in payments.enabled() if name != "sandbox")
    if real and not sandbox.allow_with_real_gateways:
        raise ConfigError(
            "payments.sandbox.enabled",
            f"the sandbox pays for free and would be offered next to {', '.join(real)}; "
            "turn it off, or set payments.sandbox.allow_with_real_gateways = true",
        )


def _check_methods(payments: Payments) -> None:
    for name, section in payments.enabled().items():
        for i, method in enumerate(section.methods):
            key = f"payments.{name}.methods[{i}]"
            try:
                parsed = MethodId.parse(f"{name}:{method}")
            except ValueError as exc:
                raise ConfigError(key, str(exc)) from None
            if parsed.local not in METHODS[name]:
                known = ", ".join(sorted(METHODS[name]))
                raise ConfigError(key, f"{name} has no method {method!r} (it has: {known})")
