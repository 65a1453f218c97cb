"""Our app with iPaymu enabled against its fake (fake.py), for tests/gateways/test_routes.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.conftest import free_port, make_config, start_app
from tests.gateways.harness import Harness
from tests.gateways.ipaymu.fake import FakeIpaymu

VA, API_KEY = "0000001234567890", "SANDBOX-FAKE-KEY"


async def start(aiohttp_server: Any, db_url: str) -> Harness:
    fake = FakeIpaymu(va=VA, api_key=API_KEY, slow_seconds=3.5)
    server = await aiohttp_server(fake.app)
    base = str(server.make_url("")).rstrip("/")
    config = make_config(db_url, free_port())
    section = replace(
        config.payments.ipaymu,
        enabled=True,
        base_url=base,
        va=VA,
        api_key=API_KEY,
        methods=("va:bni", "qris", "link"),
        timeout=2,  # roomy: a busy CI machine must not time out by accident
    )
    config = replace(config, payments=replace(config.payments, ipaymu=section))
    running = await start_app(aiohttp_server, config)

    def set_amount(reference: str, amount: int) -> None:
        fake.latest(reference).amount = amount

    return Harness(
        "ipaymu",
        "ipaymu:va:bni",
        fake,
        running,
        send=fake.send_callback,
        pay=fake.pay,
        created=fake.payments_for,
        set_status=fake.set_status,
        unmapped_status=42,
        set_amount=set_amount,
        confuse=fake.confuse,
        fail_next=fake.fail_next,
    )
