"""[payments.stripe]: one Stripe account's secret key and its webhook endpoint's secret."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from payments.gateways.spec import DURATION, SECRET, URL, SettingsError, meta

# Stripe takes a Checkout Session's expires_at from 30 minutes to 24 hours after creation.
SHORTEST: Final = 30 * 60
LONGEST: Final = 24 * 3600


@dataclass(frozen=True)
class StripeSettings:
    enabled: bool = False
    api_base: str = field(default="https://api.stripe.com", metadata=meta(URL))
    secret_key: str = field(default="${STRIPE_SECRET_KEY}", metadata=meta(SECRET))
    webhook_secret: str = field(default="${STRIPE_WEBHOOK_SECRET}", metadata=meta(SECRET))
    methods: tuple[str, ...] = ("link",)
    expiry: int = field(default=3600, metadata=meta(DURATION))
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


def check(settings: StripeSettings, others: Sequence[str]) -> None:
    """The SDK is an optional extra; Stripe refuses sessions outside 30 min - 24 h; an empty
    webhook secret would make every webhook unverifiable."""
    if importlib.util.find_spec("stripe") is None:
        raise SettingsError("enabled", "needs the stripe package: pip install -e '.[stripe]'")
    if not SHORTEST <= settings.expiry <= LONGEST:
        raise SettingsError("expiry", "Stripe allows 30m to 24h")
    if settings.timeout < 1:
        raise SettingsError("timeout", "must be at least 1s")
    if not settings.webhook_secret.strip():
        raise SettingsError("webhook_secret", "must not be empty")
