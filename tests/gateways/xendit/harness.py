"""Our app with Xendit enabled against its fake (fake.py), for tests/gateways/test_routes.py."""

from __future__ import annotations

from typing import Any

from tests.gateways.harness import Harness, app_beside_fake
from tests.gateways.xendit.fake import FakeXendit

SECRET_KEY = "xnd_development_FAKE"
CALLBACK_TOKEN = "xnd-TEST-callback-verification-token-0000000001"


async def start(aiohttp_server: Any, db_url: str) -> Harness:
    fake = FakeXendit(SECRET_KEY, CALLBACK_TOKEN, slow_seconds=3.5)
    running = await app_beside_fake(
        aiohttp_server,
        db_url,
        "xendit",
        fake.app,
        secret_key=SECRET_KEY,
        callback_token=CALLBACK_TOKEN,
        methods=("va:bca", "qris", "link"),
        timeout=2,  # roomy: a busy CI machine must not time out by accident
    )
    return Harness(
        "xendit",
        "xendit:va:bca",
        fake,
        running,
        send=fake.send,
        pay=fake.pay,
        created=fake.created,
        set_status=fake.set_status,
        unmapped_status="MYSTERY",
        set_amount=fake.set_amount,
        confuse=fake.confuse,
        fail_next=fake.fail_next,
    )
