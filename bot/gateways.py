"""Builds the enabled gateways' adapters from config through the registry
(payments/gateways/__init__.py): each GatewaySpec knows its own arguments."""

from __future__ import annotations

import aiohttp

from bot.config import Config
from payments.base import Gateway
from payments.gateways import GATEWAYS
from payments.gateways.sandbox import NAME as SANDBOX
from payments.gateways.sandbox import SandboxGateway, SandboxProvider
from payments.gateways.spec import BuildContext


def build_context(config: Config) -> BuildContext:
    return BuildContext(public_url=config.server.public_url, shop_name=config.shop.name)


def build_gateways(config: Config, http: aiohttp.ClientSession) -> dict[str, Gateway]:
    context = build_context(config)
    return {
        name: GATEWAYS[name].build(section, http, context)
        for name, section in config.payments.enabled().items()
    }


def sandbox_gateway(config: Config, http: aiohttp.ClientSession) -> SandboxGateway:
    """The sandbox's adapter whether or not it is enabled: `checkout-bot sandbox pay`."""
    gateway = GATEWAYS[SANDBOX].build(
        getattr(config.payments, SANDBOX), http, build_context(config)
    )
    assert isinstance(gateway, SandboxGateway)
    return gateway


def sandbox_provider(config: Config) -> SandboxProvider:
    """The simulated provider our server serves under /sandbox/; its HTTP session comes later."""
    serve = GATEWAYS[SANDBOX].serve
    assert serve is not None
    provider = serve(getattr(config.payments, SANDBOX), build_context(config))
    assert isinstance(provider, SandboxProvider)
    return provider
