"""Builds the enabled gateways' adapters from config: the one place that knows their arguments."""

from __future__ import annotations

import aiohttp

from bot.config import Config
from payments.base import Gateway
from payments.sandbox import SandboxGateway
from payments.sandbox_server import SandboxProvider


def build_gateways(config: Config, http: aiohttp.ClientSession) -> dict[str, Gateway]:
    p = config.payments
    built: dict[str, Gateway] = {}
    if p.sandbox.enabled:
        built["sandbox"] = sandbox_gateway(config, http)
    return built


def sandbox_gateway(config: Config, http: aiohttp.ClientSession) -> SandboxGateway:
    base_url = f"{config.server.public_url}/sandbox"
    return SandboxGateway(http, base_url=base_url, secret=config.payments.sandbox.secret)


def sandbox_provider(config: Config) -> SandboxProvider:
    """The simulated provider our server serves under /sandbox/; its HTTP session comes later."""
    s = config.payments.sandbox
    return SandboxProvider(
        secret=s.secret,
        http=None,
        auto_pay_after=s.auto_pay_after or None,
        callback_delay=float(s.callback_delay),
        drop_share=s.drop_share,
        duplicate_share=s.duplicate_share,
        merchant_name=config.shop.name,
        public_url=config.server.public_url,
    )
