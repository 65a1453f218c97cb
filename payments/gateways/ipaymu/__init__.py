"""iPaymu: adapter.py (payment API v2, signed requests), settings.py ([payments.ipaymu])."""

from __future__ import annotations

from typing import Final

import aiohttp

from payments.gateways.ipaymu.adapter import VA_BANKS, IpaymuGateway
from payments.gateways.ipaymu.settings import IpaymuSettings, check
from payments.gateways.spec import BuildContext, GatewaySpec

IDR: Final = frozenset({"IDR"})


def build(
    settings: IpaymuSettings, http: aiohttp.ClientSession, context: BuildContext
) -> IpaymuGateway:
    return IpaymuGateway(
        http,
        base_url=settings.base_url,
        va=settings.va,
        api_key=settings.api_key,
        timeout=float(settings.timeout),
    )


SPEC: Final = GatewaySpec(
    name=IpaymuGateway.name,
    settings=IpaymuSettings,
    methods=frozenset({*(f"va:{bank}" for bank in VA_BANKS), "qris", "link"}),
    currencies={"va": IDR, "qris": IDR, "link": IDR},
    rate_limit=60,
    build=build,
    check=check,
)

__all__ = ["SPEC", "IpaymuGateway", "IpaymuSettings"]
