"""Our app with iPaymu enabled against its fake (fake.py), for tests/gateways/test_routes.py."""

from __future__ import annotations

from typing import Any

from tests.gateways.harness import Harness, app_beside_fake
from tests.gateways.ipaymu.fake import FakeIpaymu

VA, API_KEY = "0000001234567890", "SANDBOX-FAKE-KEY"


async def start(aiohttp_server: Any, db_url: str) -> Harness:
    fake = FakeIpaymu(va=VA, api_key=API_KEY, slow_seconds=3.5)
    running = await app_beside_fake(
        aiohttp_server,
        db_url,
        "ipaymu",
        fake.app,
        va=VA,
        api_key=API_KEY,
        methods=("va:bni", "qris", "link"),
        timeout=2,  # roomy: a busy CI machine must not time out by accident
    )

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
