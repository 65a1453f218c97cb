"""The merchants' daily summary: two instances on one database (PostgreSQL when set) send it
once; the scheduler's job sends it at start-up once its time has passed; its numbers and
words (id, en, sw)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from bot.config import Api, Config, Merchant
from bot.merchant.summary import KIND, due_day, send_daily_summary
from bot.notify.notices import render_notice
from storage.models import Outbox
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    outbox_settled,
    serve_fake,
    telegram_settings,
)
from tests.conftest import free_port, make_config
from tests.integration.apikit import CUSTOMER, TOKEN, ApiClient, start_api
from tests.integration.test_events import post_callback


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


def config(db_url: str, fake: FakeBotAPI, *, summary: str, jobs: bool = False) -> Config:
    base = make_config(db_url, free_port(), telegram=telegram_settings(fake, "webhook"))
    return replace(
        base,
        api=Api(token=TOKEN),
        merchant=Merchant(daily_summary=summary),
        reconcile=replace(base.reconcile, enabled=jobs),
    )


async def a_busy_day(api: ApiClient) -> str:
    """One order paid (96 Kopi Susu: 4 left), one waiting whose payment needs review."""
    order = await api.place(("KOPI-SUSU", 96), customer={**CUSTOMER, "telegram_chat_id": 77})
    payment = await api.pay_with(order["code"])
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    waiting = await api.place(("ROTI-BAKAR", 1))
    other = await api.pay_with(waiting["code"], "sandbox:qris")
    wrong = {"reference": other["reference"], "id": "x", "status": "PAID", "amount": 1}
    assert await post_callback(api, {**wrong, "currency": "IDR", "method": "qris"}) == 200
    await outbox_settled(api.running)
    return str(order["code"])


def summaries(fake: FakeBotAPI) -> list[str]:
    return [c.text for c in fake.sent(MERCHANT_CHAT) if "Ringkasan" in c.text]


async def test_two_instances_on_one_database_send_the_summary_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    first = await start_api(aiohttp_server, config(db_url, fake, summary=""), http)
    await a_busy_day(first)
    assert await send_daily_summary(first.runtime) == 0  # turned off
    one, two = [
        await start_api(aiohttp_server, config(db_url, fake, summary="00:00"), http)
        for _ in range(2)
    ]
    written = await asyncio.gather(*(send_daily_summary(i.runtime) for i in (one, two, one, two)))
    assert sum(written) == 1  # one merchant chat, one row, whoever came first
    await outbox_settled(one.running)
    await outbox_settled(two.running)
    assert await send_daily_summary(two.runtime) == 0
    [text] = summaries(fake)
    today = datetime.now(ZoneInfo(first.runtime.config.shop.timezone)).date()
    assert f"Ringkasan {today.isoformat()}" in text
    assert "Lunas: 1 pesanan" in text
    assert "VA BCA · Sandbox: 1 · Rp 2.400.000" in text
    assert "Masih menunggu pembayaran: 1" in text
    assert "Kopi Susu: sisa 4" in text
    rows = await one.rows(select(Outbox.dedupe_key).where(Outbox.kind == KIND))
    assert rows == [(f"summary:{today.isoformat()}:telegram:{MERCHANT_CHAT}",)]


async def test_the_scheduler_sends_the_summary_at_start_up_once_its_time_has_passed(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    off = await start_api(aiohttp_server, config(db_url, fake, summary="", jobs=True), http)
    assert off.runtime.jobs is not None and off.runtime.jobs.get_job("daily_summary") is None
    on = await start_api(aiohttp_server, config(db_url, fake, summary="00:00", jobs=True), http)
    assert on.runtime.jobs is not None and on.runtime.jobs.get_job("daily_summary") is not None
    await fake.wait_for(lambda: summaries(fake))
    await outbox_settled(on.running)
    assert len(summaries(fake)) == 1


def test_the_summary_is_due_from_its_local_time_on() -> None:
    at = (21, 0)
    jakarta = "Asia/Jakarta"  # UTC+7
    assert due_day(datetime(2026, 11, 22, 13, 59, tzinfo=UTC), at, jakarta) is None
    assert due_day(datetime(2026, 11, 22, 14, 0, tzinfo=UTC), at, jakarta) == date(2026, 11, 22)
    assert due_day(datetime(2026, 11, 22, 16, 59, tzinfo=UTC), at, jakarta) == date(2026, 11, 22)
    assert due_day(datetime(2026, 11, 22, 17, 0, tzinfo=UTC), at, jakarta) is None  # next day


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Summary of 2026-11-22", "Paid: 2 orders", "Still waiting for payment: 3",
                "Payments to review: 1", "Running low:", "Kopi Susu: 4 left"]),
        ("sw", ["Muhtasari wa 2026-11-22", "Bado zinasubiri malipo: 3", "zimebaki 4"]),
        ("id", ["Ringkasan 2026-11-22", "Masih menunggu pembayaran: 3", "Kopi Susu: sisa 4"]),
    ],
)  # fmt: skip
def test_the_summary_reads_in_the_merchants_language(language: str, words: list[str]) -> None:
    payload = {
        "date": "2026-11-22",
        "paid_orders": 2,
        "revenue": 120000,
        "currency": "IDR",
        "by_method": [
            {
                "gateway": "xendit",
                "method": "xendit:va:bca",
                "currency": "IDR",
                "payments": 1,
                "amount": 70000,
            },
            {
                "gateway": "sandbox",
                "method": "sandbox:qris",
                "currency": "IDR",
                "payments": 1,
                "amount": 50000,
            },
        ],
        "waiting": 3,
        "to_review": 1,
        "low_stock": [{"sku": "KOPI-SUSU", "names": {"en": "Kopi Susu"}, "stock": 4}],
    }
    reply = render_notice(KIND, payload, language=language, tz="Asia/Jakarta", country="ID")
    for word in words:
        assert word in reply.text, (word, reply.text)
    assert "Xendit: 1" in reply.text and "QRIS · Sandbox: 1" in reply.text
