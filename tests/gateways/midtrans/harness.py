"""Our app with Midtrans enabled against its fake (fake.py), for tests/gateways/test_routes.py."""

from __future__ import annotations

from typing import Any

from tests.gateways.harness import Harness, app_beside_fake
from tests.gateways.midtrans.fake import FakeMidtrans

SERVER_KEY = "SB-Mid-server-FAKE"


async def start(aiohttp_server: Any, db_url: str) -> Harness:
    fake = FakeMidtrans(SERVER_KEY, slow_seconds=3.5)
    running = await app_beside_fake(
        aiohttp_server,
        db_url,
        "midtrans",
        fake.app,
        urls=("base_url", "snap_url"),
        server_key=SERVER_KEY,
        methods=("va:bca", "qris", "link"),
        timeout=2,  # roomy: a busy CI machine must not time out by accident
    )

    def set_amount(reference: str, amount: int) -> None:
        fake.orders[reference]["gross_amount"] = f"{amount}.00"

    return Harness(
        "midtrans",
        "midtrans:va:bca",
        fake,
        running,
        send=fake.send_notification,
        pay=fake.settle,
        created=fake.charge_count,
        set_status=fake.set_status,
        unmapped_status="mystery",
        set_amount=set_amount,
        confuse=fake.confuse,
        fail_next=fake.fail_next,
    )
