"""The built-in sandbox: adapter.py speaks to the provider that server.py (and its pay page,
page.py) simulates under our own server's /sandbox/; settings.py is [payments.sandbox]."""

from __future__ import annotations

from typing import Final

import aiohttp

from payments.gateways.sandbox.adapter import BANKS, SandboxGateway
from payments.gateways.sandbox.server import SandboxProvider
from payments.gateways.sandbox.settings import SandboxSettings, check
from payments.gateways.spec import ANY_CURRENCY, BuildContext, GatewaySpec

NAME: Final = "sandbox"
PATH: Final = "/sandbox"  # where our server serves the provider
IDR: Final = frozenset({"IDR"})


def build(
    settings: SandboxSettings, http: aiohttp.ClientSession, context: BuildContext
) -> SandboxGateway:
    return SandboxGateway(http, base_url=f"{context.public_url}{PATH}", secret=settings.secret)


def serve(settings: SandboxSettings, context: BuildContext) -> SandboxProvider:
    """The simulated provider our server serves under /sandbox/; its HTTP session comes later."""
    return SandboxProvider(
        secret=settings.secret,
        http=None,
        auto_pay_after=settings.auto_pay_after or None,
        callback_delay=float(settings.callback_delay),
        drop_share=settings.drop_share,
        duplicate_share=settings.duplicate_share,
        merchant_name=context.shop_name,
        public_url=context.public_url,
    )


SPEC: Final = GatewaySpec(
    name=NAME,
    settings=SandboxSettings,
    methods=frozenset({*(f"va:{bank}" for bank in BANKS), "qris", "link", "ussd"}),
    currencies={"va": IDR, "qris": IDR, "link": ANY_CURRENCY, "ussd": ANY_CURRENCY},
    rate_limit=600,
    build=build,
    check=check,
    serve=serve,
)

__all__ = ["NAME", "SPEC", "SandboxGateway", "SandboxProvider", "SandboxSettings"]
