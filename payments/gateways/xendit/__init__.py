"""Xendit: adapter.py (invoices, payment requests), wire.py, settings.py ([payments.xendit])."""

from __future__ import annotations

from typing import Final

import aiohttp

from payments.gateways.spec import BuildContext, GatewaySpec
from payments.gateways.xendit.adapter import XenditGateway
from payments.gateways.xendit.settings import XenditSettings, check
from payments.gateways.xendit.wire import METHODS

IDR: Final = frozenset({"IDR"})


def build(
    settings: XenditSettings, http: aiohttp.ClientSession, context: BuildContext
) -> XenditGateway:
    return XenditGateway(
        http,
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        callback_token=settings.callback_token,
        timeout=float(settings.timeout),
    )


SPEC: Final = GatewaySpec(
    name=XenditGateway.name,
    settings=XenditSettings,
    methods=METHODS,
    currencies={"va": IDR, "qris": IDR, "link": IDR},
    rate_limit=300,  # UNCONFIRMED: Xendit publishes no per-minute figure for these reads
    build=build,
    check=check,
)

__all__ = ["SPEC", "XenditGateway", "XenditSettings"]
