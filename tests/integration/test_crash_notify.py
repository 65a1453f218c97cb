"""A kill -9 in the instant a message is out but not recorded: the real service in a subprocess
sends to the fake Bot API, which shows the message and holds its answer; the service is killed,
restarted, takes its claim back at once (bot/instance.py) rather than after the lease, and
sends the message once more, saying it is a repeat (bot/notify/worker.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from payments.ports import Recipient
from storage.db import Sessions, transaction
from storage.models import Outbox, utcnow
from storage.repo import store_transaction
from tests.channels.telegram.fake import TOKEN, FakeBotAPI
from tests.channels.telegram.kit import serve_fake
from tests.integration.appprocess import AppProcess

CHAT = 5550088
SECRET = "crash-webhook-secret-0123456789"


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


def telegram_app(folder: Path, db_url: str, fake: FakeBotAPI) -> AppProcess:
    on = {
        "[telegram]\nenabled = false": "[telegram]\nenabled = true",
        'mode = "polling"': 'mode = "webhook"',
        'api_url = "https://api.telegram.org"': f'api_url = "{fake.url}"',
    }
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET}
    return AppProcess(folder, db_url, replacements=on, env=env)


async def test_a_message_out_when_the_service_was_killed_is_sent_once_more_as_a_repeat(
    tmp_path: Path, db_url: str, sessions: Sessions, fake: FakeBotAPI
) -> None:
    app = telegram_app(tmp_path, db_url, fake)
    fake.hold()
    await app.start()
    try:
        async with store_transaction(sessions) as store:
            payload = {"order_code": "A7K2Q9", "language": "en", "tracking": "JNE123"}
            to = Recipient("telegram", str(CHAT))
            await store.outbox.enqueue(to, "order_shipped", payload, "crash:shipped")
        await fake.wait_for(lambda: fake.sent(CHAT), within=30)
        await app.kill()
        fake.release()
        [left] = await rows(sessions)
        assert left.send_started_at is not None and left.sent_at is None
        lease_end = left.next_attempt_at  # a minute ahead: the dead process's lease
        await app.start()
        row = await until_settled(sessions, lease_end)
    finally:
        await app.stop()
    first, again = fake.sent(CHAT)
    assert "A7K2Q9" in first.text and not first.text.startswith("In case")
    assert again.text == f"In case you missed it:\n{first.text}"
    assert row.sent_at is not None and row.sent_at < lease_end  # not after the lease
    assert (row.doubts, row.attempts) == (1, 2)


async def rows(sessions: Sessions) -> list[Outbox]:
    async with transaction(sessions) as session:
        return list((await session.scalars(select(Outbox))).all())


async def until_settled(sessions: Sessions, lease_end: datetime) -> Outbox:
    """The row once sent or failed, or as it is a while after the lease would have run out."""
    while True:
        [row] = await rows(sessions)
        if row.sent_at is not None or row.failed_at is not None:
            return row
        if (utcnow() - lease_end).total_seconds() > 10:
            return row
        await asyncio.sleep(0.1)
