"""[payments.mpesa]: one Daraja app's keys and the Paybill or Till it collects to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from payments.gateways.mpesa.wire import TRANSACTION_TYPES
from payments.gateways.spec import DURATION, SECRET, URL, SettingsError, meta


@dataclass(frozen=True)
class MpesaSettings:
    enabled: bool = False
    # Sandbox; https://api.safaricom.co.ke when live.
    base_url: str = field(default="https://sandbox.safaricom.co.ke", metadata=meta(URL))
    consumer_key: str = field(default="${MPESA_CONSUMER_KEY}", metadata=meta(SECRET))
    consumer_secret: str = field(default="${MPESA_CONSUMER_SECRET}", metadata=meta(SECRET))
    shortcode: str = "174379"  # the Paybill, or the Till's store number; 174379: the sandbox's
    passkey: str = field(default="${MPESA_PASSKEY}", metadata=meta(SECRET))
    transaction_type: str = "paybill"  # or "till" (Buy Goods): then till_number is PartyB
    till_number: str = ""
    methods: tuple[str, ...] = ("ussd",)
    expiry: int = field(default=300, metadata=meta(DURATION))  # a prompt lasts about a minute
    timeout: int = field(default=10, metadata=meta(DURATION))  # per gateway request


def check(settings: MpesaSettings, others: Sequence[str]) -> None:
    """Every secret is needed for every push (an empty one fails them all, later and
    obscurely); a Till without its number would send the money nowhere we know."""
    if settings.timeout < 1:
        raise SettingsError("timeout", "must be at least 1s")
    for key in ("consumer_key", "consumer_secret", "passkey"):
        if not str(getattr(settings, key)).strip():
            raise SettingsError(key, "must not be empty")
    if settings.transaction_type not in TRANSACTION_TYPES:
        raise SettingsError("transaction_type", 'must be "paybill" or "till"')
    if not settings.shortcode.isdigit():
        raise SettingsError("shortcode", "must be the digits of your Paybill or store number")
    if settings.transaction_type == "till" and not settings.till_number.isdigit():
        problem = 'must be the Till\'s digits when transaction_type is "till"'
        raise SettingsError("till_number", problem)
