"""[payments.sandbox]: the built-in gateway's settings and the checks that keep it safe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from payments.gateways.spec import DURATION, SECRET, SettingsError, meta

MIN_SECRET: int = 16


@dataclass(frozen=True)
class SandboxSettings:
    """A gateway that pays for free, so it is off unless a file enables it (the demo and the
    tests do that themselves), and never quietly next to a real gateway."""

    enabled: bool = False
    # true: may be offered next to a real gateway (and pays for free there too)
    allow_with_real_gateways: bool = False
    methods: tuple[str, ...] = ("va:bca", "qris", "link", "ussd")
    secret: str = field(default="", metadata=meta(SECRET))  # signs its callbacks: required
    expiry: int = field(default=24 * 3600, metadata=meta(DURATION))
    auto_pay_after: int = field(default=0, metadata=meta(DURATION))  # 0: pay by hand
    # how long after paying its callback is sent
    callback_delay: int = field(default=0, metadata=meta(DURATION))
    # share of callbacks it "loses", to watch the poller confirm them
    drop_share: float = field(default=0.0, metadata=meta(low=0, high=1))
    # share of callbacks it sends twice
    duplicate_share: float = field(default=0.0, metadata=meta(low=0, high=1))


def check(settings: SandboxSettings, others: Sequence[str]) -> None:
    """Anyone who can reach /sandbox/ can pay: a short secret, or a place next to a real
    gateway nobody asked for, is refused at start-up."""
    if len(settings.secret) < MIN_SECRET:
        raise SettingsError(
            "secret", f"required when the sandbox is enabled ({MIN_SECRET} characters or more)"
        )
    real = sorted(others)
    if real and not settings.allow_with_real_gateways:
        raise SettingsError(
            "enabled",
            f"the sandbox pays for free and would be offered next to {', '.join(real)}; "
            "turn it off, or set payments.sandbox.allow_with_real_gateways = true",
        )
