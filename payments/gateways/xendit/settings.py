"""[payments.xendit]: one Xendit account's secret API key and callback token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from payments.gateways.spec import DURATION, SECRET, URL, SettingsError, meta


@dataclass(frozen=True)
class XenditSettings:
    enabled: bool = False
    # One host for test and live: the key's prefix (xnd_development_/xnd_production_) decides.
    base_url: str = field(default="https://api.xendit.co", metadata=meta(URL))
    secret_key: str = field(default="${XENDIT_SECRET_KEY}", metadata=meta(SECRET))
    callback_token: str = field(default="${XENDIT_CALLBACK_TOKEN}", metadata=meta(SECRET))
    methods: tuple[str, ...] = ("link", "va:bca", "va:bni", "va:bri", "va:mandiri", "qris")
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


def check(settings: XenditSettings, others: Sequence[str]) -> None:
    """A zero timeout fails every request; an empty token would accept any callback."""
    if settings.timeout < 1:
        raise SettingsError("timeout", "must be at least 1s")
    if not settings.callback_token.strip():
        raise SettingsError("callback_token", "must not be empty")
