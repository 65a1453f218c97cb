"""[payments.ipaymu]: one merchant account (its VA number and API key) and where its API is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from payments.gateways.spec import DURATION, SECRET, URL, SettingsError, meta


@dataclass(frozen=True)
class IpaymuSettings:
    enabled: bool = False
    base_url: str = field(default="https://sandbox.ipaymu.com", metadata=meta(URL))
    va: str = field(default="${IPAYMU_VA}", metadata=meta(SECRET))
    api_key: str = field(default="${IPAYMU_API_KEY}", metadata=meta(SECRET))
    methods: tuple[str, ...] = ("link", "va:bca", "va:bni", "qris")
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


def check(settings: IpaymuSettings, others: Sequence[str]) -> None:
    """A zero timeout would fail every request before it is sent."""
    if settings.timeout < 1:
        raise SettingsError("timeout", "must be at least 1s")
