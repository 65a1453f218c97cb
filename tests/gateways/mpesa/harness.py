"""Our app in a Kenyan shop with M-Pesa enabled against its fake (fake.py), for
tests/gateways/test_routes.py: the shop sells in KES and the customer has a Kenyan phone."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from payments.base import MethodId
from storage.db import transaction
from storage.models import Customer, Payment
from tests.conftest import Running, add_customer, free_port, make_config, new_order, start_app
from tests.gateways.harness import Harness
from tests.gateways.mpesa.fake import FakeDaraja

CONSUMER_KEY = "fake-consumer-key-0001"
CONSUMER_SECRET = "fake-consumer-secret-0001"
SHORTCODE = "174379"
PASSKEY = "TESTPASSKEY-made-up-0000000000000000000000000000000000000001"  # the recordings'
PHONE = "+254712345678"


@dataclass
class MpesaHarness(Harness):
    async def start(self, chat_id: str = "1001", method: str | None = None) -> Payment:
        runtime = self.running.runtime
        assert runtime.sessions is not None
        customer = await add_customer(runtime.sessions, chat_id)
        async with transaction(runtime.sessions) as session:
            row = await session.get(Customer, customer)
            assert row is not None
            row.phone = PHONE
        code = await new_order(runtime.uow, runtime.shop, customer)
        return await runtime.start_payment(code, MethodId.parse(method or self.method))


def fake_daraja(**kw: Any) -> FakeDaraja:
    return FakeDaraja(CONSUMER_KEY, CONSUMER_SECRET, SHORTCODE, PASSKEY, **kw)


async def kenyan_shop(
    aiohttp_server: Any, db_url: str, fake: FakeDaraja, **settings: Any
) -> Running:
    """The fake, then our whole app selling in KES with M-Pesa pointed at the fake."""
    server = await aiohttp_server(fake.app)
    config = make_config(db_url, free_port())
    section = replace(
        config.payments.mpesa,
        enabled=True,
        base_url=str(server.make_url("")).rstrip("/"),
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        shortcode=SHORTCODE,
        passkey=PASSKEY,
        timeout=2,  # roomy: a busy CI machine must not time out by accident
        **settings,
    )
    shop = replace(config.shop, currency="KES", country="KE", timezone="Africa/Nairobi")
    config = replace(config, shop=shop, payments=replace(config.payments, mpesa=section))
    return await start_app(aiohttp_server, config)


async def start(aiohttp_server: Any, db_url: str) -> Harness:
    fake = fake_daraja(slow_seconds=3.5)
    running = await kenyan_shop(aiohttp_server, db_url, fake)
    return MpesaHarness(
        "mpesa",
        "mpesa:ussd",
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
