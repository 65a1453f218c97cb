"""config.toml -> frozen dataclasses. The only reader of config.toml and the environment.

A mistake is a `ConfigError` naming the key, raised at start-up, never a crash later.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import list_currencies

from bot.catalog import spec as catalogs
from bot.config.payments import Payments, check_payments
from bot.config.reader import ConfigError, build
from bot.config.sections import (
    LANGUAGES,
    Api,
    Callbacks,
    CatalogSection,
    Database,
    Email,
    Logging,
    Merchant,
    Reconcile,
    Server,
    Shop,
    Telegram,
    WhatsApp,
)


@dataclass(frozen=True)
class Config:
    shop: Shop = Shop()
    database: Database = Database()
    server: Server = Server()
    callbacks: Callbacks = Callbacks()
    api: Api = Api()
    merchant: Merchant = Merchant()
    telegram: Telegram = Telegram()
    whatsapp: WhatsApp = WhatsApp()
    email: Email = Email()
    payments: Payments = field(default_factory=Payments)
    catalog: CatalogSection = CatalogSection()
    reconcile: Reconcile = Reconcile()
    logging: Logging = Logging()
    path: Path = Path("config.toml")

    def load_catalog(self) -> catalogs.Catalog:
        if self.catalog.file:
            file = self.path.parent / self.catalog.file
            return catalogs.load_catalog_file(file, self.shop.currency)
        raw = {
            "categories": list(self.catalog.categories),
            "products": list(self.catalog.products),
        }
        return catalogs.parse_catalog(raw, self.shop.currency, "catalog")


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
    _check_telegram(config.telegram)
    _check_whatsapp(config.whatsapp)
    _check_email(config.email)
    check_payments(config.payments, config.shop.currency)
    config.load_catalog()


def _check_email(email: Email) -> None:
    if not email.enabled:
        return
    for key in ("host", "sender"):
        if not getattr(email, key):
            raise ConfigError(f"email.{key}", "required when email is enabled")
    if email.user and not email.password:
        raise ConfigError("email.password", "required when email.user is set")


def _check_telegram(tg: Telegram) -> None:
    """The token is a required secret (sections.py); the webhook's only in webhook mode."""
    if tg.enabled and tg.mode == "webhook" and not tg.webhook_secret.strip():
        raise ConfigError("telegram.webhook_secret", "required in webhook mode")


WHATSAPP_REQUIRED: Final = ("phone_number_id", "access_token", "app_secret", "verify_token")


def _check_whatsapp(wa: WhatsApp) -> None:
    if not wa.enabled:
        return
    for key in WHATSAPP_REQUIRED:
        if not str(getattr(wa, key)).strip():
            raise ConfigError(f"whatsapp.{key}", "required when whatsapp is enabled")
    for i, number in enumerate(wa.merchant_numbers):
        if not number.isascii() or not number.isdigit():
            raise ConfigError(f"whatsapp.merchant_numbers[{i}]", "digits only, e.g. 6281234567890")
    for kind, template in wa.templates.items():
        if not template.name.strip():
            raise ConfigError(f"whatsapp.templates.{kind}.name", "the approved template's name")
