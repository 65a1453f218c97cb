"""Sends in doubt (bot/notify/worker.py): a row whose send started but whose outcome was never
recorded, as a process killed between the chat API's "ok" and our record of it leaves it, is
sent once more marked as a repeat in the reader's language, and given up when in doubt again.
The rows are written as the killed process leaves them; the sends go to the fake Bot API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from payments.ports import Recipient
from storage.models import Outbox, utcnow
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import outbox_settled, rows, serve_fake, start_bot
from tests.conftest import Running

CHAT = 5550077
REPEAT = {
    "en": "In case you missed it:",
    "id": "Jika Anda belum melihatnya:",
    "sw": "Iwapo hukuiona:",
}


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def left_by_a_kill(running: Running, language: str, *, doubts: int = 0) -> None:
    """A shipped notice whose send started a minute ago, lease run out, outcome unknown."""
    then = utcnow() - timedelta(seconds=61)
    async with running.runtime.uow() as store:
        payload = {"order_code": "A7K2Q9", "language": language, "tracking": "JNE123"}
        to = Recipient("telegram", str(CHAT))
        await store.outbox.enqueue(to, "order_shipped", payload, "test:doubt")
        await store.session.execute(
            update(Outbox)
            .where(Outbox.dedupe_key == "test:doubt")
            .values(send_started_at=then, next_attempt_at=then, attempts=1, doubts=doubts)
        )


async def the_row(running: Running) -> Outbox:
    [(row,)] = await rows(running, select(Outbox))
    return row  # type: ignore[no-any-return]


@pytest.mark.parametrize("language", sorted(REPEAT))
async def test_a_send_in_doubt_is_sent_once_more_saying_it_is_a_repeat(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, language: str
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    await left_by_a_kill(running, language)
    assert await outbox_settled(running) == [("order_shipped", "sent")]
    [told] = fake.sent(CHAT)
    first_line, rest = told.text.split("\n", 1)
    assert first_line == REPEAT[language] and "A7K2Q9" in rest
    row = await the_row(running)
    assert (row.doubts, row.attempts) == (1, 2)


async def test_a_row_in_doubt_a_second_time_is_given_up_and_never_sent_a_third_time(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    await left_by_a_kill(running, "en", doubts=1)
    assert await outbox_settled(running) == [("order_shipped", "failed")]
    assert fake.sent(CHAT) == []
    row = await the_row(running)
    assert row.doubts == 2 and "in doubt twice" in (row.last_error or "")


async def test_a_send_that_was_answered_is_no_doubt_and_reads_as_usual(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    async with running.runtime.uow() as store:
        payload = {"order_code": "B8M3R0", "language": "en", "tracking": "JNE9"}
        await store.outbox.enqueue(
            Recipient("telegram", str(CHAT)), "order_shipped", payload, "test:plain"
        )
    assert await outbox_settled(running) == [("order_shipped", "sent")]
    [told] = fake.sent(CHAT)
    assert not told.text.startswith(REPEAT["en"])
    row = await the_row(running)
    assert row.doubts == 0 and row.send_started_at is not None and row.sent_at is not None
    assert row.send_started_at <= row.sent_at


async def test_a_refused_send_is_known_not_shown_and_its_retry_is_no_repeat(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    """A 5xx from the chat API is an answer: the row is retried, not counted in doubt."""
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    fake.fail("sendMessage", 500, times=1, chat_id=CHAT)
    async with running.runtime.uow() as store:
        payload = {"order_code": "C9N4S1", "language": "en", "tracking": "JNE7"}
        await store.outbox.enqueue(
            Recipient("telegram", str(CHAT)), "order_shipped", payload, "test:refused"
        )
    assert await outbox_settled(running, within=20) == [("order_shipped", "sent")]
    [told] = fake.sent(CHAT)
    assert not told.text.startswith(REPEAT["en"])
    assert (await the_row(running)).doubts == 0
