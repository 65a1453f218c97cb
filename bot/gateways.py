"""Builds the enabled gateways' adapters from config: the one place that knows their arguments."""

from __future__ import annotations

import aiohttp

from bot.config import Config
from payments.base import Gateway
from payments.ipaymu import IpaymuGateway
from payments.midtrans import MidtransGateway
from payments.sandbox import SandboxGateway
from payments.sandbox_server import SandboxProvider


def build_gateways(config: Config, http: aiohttp.ClientSession) -> dict[str, Gateway]:
    p = config.payments
    built: dict[str, Gateway] = {}
    if p.sandbox.enabled:
        built["sandbox"] = sandbox_gateway(config, http)
    if p.midtrans.enabled:
        m = p.midtrans
        built["midtrans"] = MidtransGateway(
            http,
            base_url=m.base_url,
            snap_url=m.snap_url,
            server_key=m.server_key,
            timeout=float(m.timeout),
        )
    if p.ipaymu.enabled:
        i = p.ipaymu
        built["ipaymu"] = IpaymuGateway(
            http, base_url=i.base_url, va=i.va, api_key=i.api_key, timeout=float(i.timeout)
        )
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
