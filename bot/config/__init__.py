"""The configuration: load_config(path) -> Config, every mistake a ConfigError naming its key.

load.py reads and checks the file, reader.py turns TOML tables into dataclasses, sections.py
holds one dataclass per section, payments.py the [payments.<name>] sections from the gateway
registry; default.toml is the copy shipped in the package (and kept equal to ./config.toml).
"""

from pathlib import Path
from typing import Final

from bot.config.load import Config, load_config
from bot.config.payments import Payments
from bot.config.reader import ConfigError
from bot.config.sections import (
    LANGUAGES,
    RATE_LIMITS,
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
    WhatsAppTemplate,
)

DEFAULT_FILE: Final = Path(__file__).with_name("default.toml")

__all__ = [
    "DEFAULT_FILE",
    "LANGUAGES",
    "RATE_LIMITS",
    "Api",
    "Callbacks",
    "CatalogSection",
    "Config",
    "ConfigError",
    "Database",
    "Email",
    "Logging",
    "Merchant",
    "Payments",
    "Reconcile",
    "Server",
    "Shop",
    "Telegram",
    "WhatsApp",
    "WhatsAppTemplate",
    "load_config",
]
