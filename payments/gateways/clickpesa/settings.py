"""[payments.clickpesa]: one ClickPesa application's client id and API key, and the account's
checksum key where the account has the checksum turned on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from payments.gateways.spec import DURATION, SECRET, URL, SettingsError, meta


@dataclass(frozen=True)
class ClickPesaSettings:
    enabled: bool = False
    # ClickPesa has no sandbox: every call against this host moves real money.
    base_url: str = field(default="https://api.clickpesa.com/third-parties", metadata=meta(URL))
    client_id: str = field(default="${CLICKPESA_CLIENT_ID}", metadata=meta(SECRET))
    api_key: str = field(default="${CLICKPESA_API_KEY}", metadata=meta(SECRET))
    # Empty while the account's checksum setting is off; then callbacks are only claims.
    checksum_key: str = field(
        default="${CLICKPESA_CHECKSUM_KEY:-}", metadata=meta(SECRET, optional=True)
    )
    methods: tuple[str, ...] = ("ussd",)
    # A prompt nobody answers ends FAILED within minutes; this is our own last word.
    expiry: int = field(default=10 * 60, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


def check(settings: ClickPesaSettings, others: Sequence[str]) -> None:
    """Without the id and key no token can be had; a zero timeout fails every request."""
    for key in ("client_id", "api_key"):
        if not str(getattr(settings, key)).strip():
            raise SettingsError(key, "must not be empty")
    if settings.timeout < 1:
        raise SettingsError("timeout", "must be at least 1s")
    if settings.expiry < 60:
        raise SettingsError("expiry", "must be at least 1m: the customer needs time for the PIN")
