"""Midtrans: adapter.py (Snap pages and Core API charges), settings.py ([payments.midtrans])."""

from __future__ import annotations

from typing import Final

import aiohttp

from payments.gateways.midtrans.adapter import METHODS, MidtransGateway
from payments.gateways.midtrans.settings import MidtransSettings, check
from payments.gateways.spec import BuildContext, GatewaySpec

IDR: Final = frozenset({"IDR"})


def build(
    settings: MidtransSettings, http: aiohttp.ClientSession, context: BuildContext
) -> MidtransGateway:
    return MidtransGateway(
        http,
        base_url=settings.base_url,
        snap_url=settings.snap_url,
        server_key=settings.server_key,
        timeout=float(settings.timeout),
    )


SPEC: Final = GatewaySpec(
    name=MidtransGateway.name,
    settings=MidtransSettings,
    methods=METHODS,
    currencies={"va": IDR, "qris": IDR, "link": IDR},
    rate_limit=300,
    build=build,
    check=check,
)

__all__ = ["SPEC", "MidtransGateway", "MidtransSettings"]
