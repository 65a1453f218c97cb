"""[payments.midtrans]: one merchant account's keys and where its APIs are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from payments.gateways.spec import DURATION, SECRET, URL, SettingsError, meta


@dataclass(frozen=True)
class MidtransSettings:
    enabled: bool = False
    base_url: str = field(default="https://api.sandbox.midtrans.com", metadata=meta(URL))
    snap_url: str = field(default="https://app.sandbox.midtrans.com", metadata=meta(URL))
    server_key: str = field(default="${MIDTRANS_SERVER_KEY}", metadata=meta(SECRET))
    methods: tuple[str, ...] = ("link", "va:bca", "va:bni", "va:bri", "qris")
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


def check(settings: MidtransSettings, others: Sequence[str]) -> None:
    """A zero timeout would fail every request before it is sent."""
    if settings.timeout < 1:
        raise SettingsError("timeout", "must be at least 1s")
