"""Stripe Checkout: adapter.py (the SDK's async client), amounts.py, settings.py.

The `stripe` SDK is an optional extra (pip install -e '.[stripe]'): nothing here imports it
until the gateway is built, so a shop without Stripe does not need it, and `check` turns a
missing SDK into a config error naming payments.stripe.enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import aiohttp

from payments.base import Gateway
from payments.gateways.spec import ANY_CURRENCY, BuildContext, GatewaySpec
from payments.gateways.stripe.settings import StripeSettings, check

if TYPE_CHECKING:
    from payments.gateways.stripe.adapter import StripeGateway

NAME: Final = "stripe"


def build(settings: StripeSettings, http: aiohttp.ClientSession, context: BuildContext) -> Gateway:
    from payments.gateways.stripe.adapter import StripeGateway  # the SDK, only when enabled

    gateway: StripeGateway = StripeGateway(
        http,
        api_base=settings.api_base,
        secret_key=settings.secret_key,
        webhook_secret=settings.webhook_secret,
        timeout=float(settings.timeout),
    )
    return gateway


SPEC: Final = GatewaySpec(
    name=NAME,
    settings=StripeSettings,
    methods=frozenset({"link"}),
    currencies={"link": ANY_CURRENCY},  # cards in the shop's own currency, IDR and TZS too
    rate_limit=1500,  # Stripe allows about 100 reads a second in live mode; we stay far under
    build=build,
    check=check,
)

__all__ = ["SPEC", "StripeSettings"]
