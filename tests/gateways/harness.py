"""What the shared route-contract suite (tests/gateways/test_routes.py) needs of a gateway.

Each registered gateway has tests/gateways/<name>/harness.py with `async def start(aiohttp_server,
db_url) -> Harness`: our whole app next to that gateway's fake (or, for the sandbox, its own
provider), with the knobs the suite turns. `starters()` finds them from the registry, so a
gateway without a harness fails the suite instead of silently escaping it.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from payments.base import MethodId
from payments.gateways import GATEWAYS
from storage.db import transaction
from storage.models import Customer, Payment
from tests.conftest import Running, add_customer, free_port, make_config, new_order, start_app

Start = Callable[[Any, str], Awaitable["Harness"]]


@dataclass
class Harness:
    gateway: str
    method: str
    fake: Any
    running: Running
    send: Callable[..., Awaitable[int]]  # (http, url, reference, forged=False) -> HTTP status
    pay: Callable[[str], None]
    created: Callable[[str], int]  # payments the fake holds for a reference
    set_status: Callable[[str, Any], None]  # the provider's own status word or code
    unmapped_status: Any  # a status value the gateway's STATUS_MAP does not know
    set_amount: Callable[[str, int], None]  # what the provider reports as paid
    confuse: Callable[[str, str], None]  # status queries about one answer about the other
    fail_next: Callable[[str], None] | None = None  # "timeout", "500", "429" on the next create
    confirms_paid_by_query: bool = True  # the adapter's confirm_paid_by_query
    phone: str = "+6281234567890"  # the customer's, where the gateway pushes a prompt to it

    @property
    def callback_url(self) -> str:
        return self.running.runtime.callback_url(self.gateway)

    async def start(self, chat_id: str = "1001", method: str | None = None) -> Payment:
        runtime = self.running.runtime
        assert runtime.sessions is not None
        customer = await add_customer(runtime.sessions, chat_id)
        async with transaction(runtime.sessions) as session:
            row = await session.get(Customer, customer)
            assert row is not None
            row.phone = self.phone
        code = await new_order(runtime.uow, runtime.shop, customer)
        return await runtime.start_payment(code, MethodId.parse(method or self.method))

    async def rows(self, statement: Any) -> list[Any]:
        assert self.running.runtime.sessions is not None
        async with transaction(self.running.runtime.sessions) as session:
            return list((await session.execute(statement)).all())


async def app_beside_fake(
    aiohttp_server: Any,
    db_url: str,
    gateway: str,
    fake_app: web.Application,
    urls: tuple[str, ...] = ("base_url",),
    **settings: Any,
) -> Running:
    """Serve a gateway's fake, then our whole app with `gateway` enabled, its `urls` settings
    pointed at the fake and `settings` over the shipped ones. Every harness of a gateway with
    a fake starts this way."""
    server = await aiohttp_server(fake_app)
    base = str(server.make_url("")).rstrip("/")
    config = make_config(db_url, free_port())
    settings |= dict.fromkeys(urls, base)
    section = replace(getattr(config.payments, gateway), enabled=True, **settings)
    config = replace(config, payments=replace(config.payments, **{gateway: section}))
    return await start_app(aiohttp_server, config)


def starters() -> dict[str, Start]:
    """Every registered gateway's harness, by name."""
    return {
        name: importlib.import_module(f"tests.gateways.{name}.harness").start for name in GATEWAYS
    }
