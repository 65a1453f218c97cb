"""ClickPesa: adapter.py (USSD push, Tanzania), wire.py, settings.py ([payments.clickpesa])."""

from __future__ import annotations

from typing import Final

import aiohttp

from payments.gateways.clickpesa.adapter import ClickPesaGateway
from payments.gateways.clickpesa.settings import ClickPesaSettings, check
from payments.gateways.clickpesa.wire import METHODS
from payments.gateways.spec import BuildContext, GatewaySpec

TZS: Final = frozenset({"TZS"})


def build(
    settings: ClickPesaSettings, http: aiohttp.ClientSession, context: BuildContext
) -> ClickPesaGateway:
    return ClickPesaGateway(
        http,
        base_url=settings.base_url,
        client_id=settings.client_id,
        api_key=settings.api_key,
        checksum_key=settings.checksum_key,
        timeout=float(settings.timeout),
    )


SPEC: Final = GatewaySpec(
    name=ClickPesaGateway.name,
    settings=ClickPesaSettings,
    methods=METHODS,
    currencies={"ussd": TZS},
    rate_limit=120,  # ClickPesa allows 120 requests a minute per IP, every call counted
    build=build,
    check=check,
)

__all__ = ["SPEC", "ClickPesaGateway", "ClickPesaSettings"]
