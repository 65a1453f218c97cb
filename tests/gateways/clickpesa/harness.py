"""Our app with ClickPesa enabled against its fake (fake.py), for tests/gateways/test_routes.py.

A Tanzanian shop: ClickPesa takes TZS only and pushes prompts to Tanzanian numbers only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.config import Config
from tests.conftest import Running, free_port, make_config, start_app
from tests.gateways.clickpesa.fake import CLIENT_ID, FakeClickPesa
from tests.gateways.harness import Harness

API_KEY = "SKmadeupCLICKPESAkey0000000001"
CHECKSUM_KEY = "test-checksum-key-0001"
PHONE = "+255712345678"


def tanzanian(config: Config, base_url: str, **settings: Any) -> Config:
    """`config` as a shop in Dar es Salaam selling in TZS, ClickPesa on at `base_url`."""
    shop = replace(config.shop, currency="TZS", country="TZ", timezone="Africa/Dar_es_Salaam")
    values: dict[str, Any] = {
        "enabled": True,
        "base_url": base_url,
        "client_id": CLIENT_ID,
        "api_key": API_KEY,
        "checksum_key": CHECKSUM_KEY,
        "timeout": 2,  # roomy: a busy CI machine must not time out by accident
    }
    section = replace(config.payments.clickpesa, **(values | settings))
    return replace(config, shop=shop, payments=replace(config.payments, clickpesa=section))


async def start(aiohttp_server: Any, db_url: str, checksum_key: str = CHECKSUM_KEY) -> Harness:
    """`checksum_key=""`: an account with the checksum off, whose webhooks carry none."""
    fake = FakeClickPesa(API_KEY, checksum_key, slow_seconds=3.5)
    server = await aiohttp_server(fake.app)
    config = make_config(db_url, free_port())
    base = str(server.make_url("")).rstrip("/")
    running: Running = await start_app(
        aiohttp_server, tanzanian(config, base, checksum_key=checksum_key)
    )
    return Harness(
        "clickpesa",
        "clickpesa:ussd",
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
        phone=PHONE,
    )
