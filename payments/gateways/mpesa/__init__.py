"""M-Pesa Daraja STK push: adapter.py, client.py (OAuth, HTTP), wire.py (bodies, token, phone),
settings.py."""

from __future__ import annotations

from typing import Final

import aiohttp

from payments.gateways.mpesa.adapter import MpesaGateway
from payments.gateways.mpesa.settings import MpesaSettings, check
from payments.gateways.mpesa.wire import METHODS
from payments.gateways.spec import BuildContext, GatewaySpec

KES: Final = frozenset({"KES"})


def build(
    settings: MpesaSettings, http: aiohttp.ClientSession, context: BuildContext
) -> MpesaGateway:
    return MpesaGateway(
        http,
        base_url=settings.base_url,
        consumer_key=settings.consumer_key,
        consumer_secret=settings.consumer_secret,
        shortcode=settings.shortcode,
        passkey=settings.passkey,
        transaction_type=settings.transaction_type,
        till_number=settings.till_number,
        timeout=float(settings.timeout),
    )


SPEC: Final = GatewaySpec(
    name=MpesaGateway.name,
    settings=MpesaSettings,
    methods=METHODS,
    currencies={"ussd": KES},
    rate_limit=120,  # UNCONFIRMED: Daraja rate-limits the STK query but publishes no figure
    build=build,
    check=check,
)

__all__ = ["SPEC", "MpesaGateway", "MpesaSettings"]
