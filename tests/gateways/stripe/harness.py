"""Our app with Stripe enabled against its fake (fake.py), for tests/gateways/test_routes.py."""

from __future__ import annotations

from typing import Any

from tests.gateways.harness import Harness, app_beside_fake
from tests.gateways.stripe.fake import FakeStripe

SECRET_KEY = "sk_test_FAKE0123456789"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef0123456789abcdef"


async def start(aiohttp_server: Any, db_url: str, **settings: Any) -> Harness:
    fake = FakeStripe(SECRET_KEY, WEBHOOK_SECRET, slow_seconds=3.5)
    running = await app_beside_fake(
        aiohttp_server,
        db_url,
        "stripe",
        fake.app,
        urls=("api_base",),
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        timeout=2,  # roomy: a busy CI machine must not time out by accident
        **settings,
    )
    fake.url = running.runtime.config.payments.stripe.api_base
    return Harness(
        "stripe",
        "stripe:link",
        fake,
        running,
        send=fake.send,
        pay=fake.pay,
        created=fake.created,
        set_status=fake.set_status,
        unmapped_status=("complete", "mystery"),
        set_amount=fake.set_amount,
        confuse=fake.confuse,
        fail_next=fake.fail_next,
        confirms_paid_by_query=False,
    )
