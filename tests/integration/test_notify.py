"""The outbox worker on the running app: Telegram through the fake Bot API, and a sender of our
own for another channel; retries, giving up, leases across two instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.conversation.replies import Reply
from bot.notify.worker import NO_LIMIT, OUTBOX, Pace, RetryLater, Undeliverable, register_sender
from payments.base import MethodId
from payments.ports import Recipient
from storage.db import transaction
from storage.models import Outbox, utcnow
from storage.outbox_repo import OutboxLeases
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    RETRY_AFTER_WARNING,
    outbox_settled,
    pay_at_sandbox,
    rows,
    serve_fake,
    start_bot,
    telegram_settings,
)
from tests.conftest import Running, add_customer, free_port, make_config, new_order, start_app

CUSTOMER = 5550001


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def paid_order(running: Running, chat_id: int = CUSTOMER) -> str:
    """A Telegram customer's order, paid in the sandbox: two outbox rows are written."""
    runtime = running.runtime
    assert runtime.sessions is not None
    customer = await add_customer(runtime.sessions, str(chat_id))
    code = await new_order(runtime.uow, runtime.shop, customer)
    payment = await runtime.start_payment(code, MethodId.parse("sandbox:va:bca"))
    await pay_at_sandbox(running, payment.reference)
    return code


async def the_row(running: Running, kind: str) -> Outbox:
    [(row,)] = await rows(running, select(Outbox).where(Outbox.kind == kind))
    return row  # type: ignore[no-any-return]


def answers(fake: FakeBotAPI, chat_id: int, status: int = 200) -> list[Any]:
    return [c for c in fake.calls if c.chat_id == chat_id and c.status == status]


@pytest.mark.filterwarnings(RETRY_AFTER_WARNING)
async def test_a_429_is_sent_again_after_its_retry_after_and_only_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    fake.fail("sendMessage", 429, retry_after=0.2, times=2, chat_id=CUSTOMER)  # past PTB's retry
    code = await paid_order(running)
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    row = await the_row(running, "payment_paid")
    assert "retry after" in (row.last_error or "") and row.attempts == 1
    [told] = answers(fake, CUSTOMER)
    assert code in told.text and len(answers(fake, CUSTOMER, 429)) == 2


async def test_a_customer_who_blocked_the_bot_is_given_up_at_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    fake.block(CUSTOMER)
    code = await paid_order(running)
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "failed")]
    row = await the_row(running, "payment_paid")
    assert row.attempts == 1 and "blocked by the user" in (row.last_error or "")
    assert len(answers(fake, CUSTOMER, 403)) == 1
    [merchant] = answers(fake, MERCHANT_CHAT)
    assert code in merchant.text


@pytest.mark.parametrize(("status", "outcome"), [(500, "sent"), (400, "failed")])
async def test_a_server_error_is_tried_again_and_a_bad_request_is_not(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, status: int, outcome: str
) -> None:
    running = await start_bot(aiohttp_server, db_url, fake, "webhook")
    running.server.app[OUTBOX].tuning.backoff_base = 0.05
    fake.fail("sendMessage", status, times=1, chat_id=CUSTOMER)
    await paid_order(running)
    assert ("payment_paid", outcome) in await outbox_settled(running)
    row = await the_row(running, "payment_paid")
    assert row.attempts == (2 if outcome == "sent" else 1) and row.last_error


async def test_two_instances_send_each_message_once(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI
) -> None:
    first = await start_bot(aiohttp_server, db_url, fake, "webhook")
    settings = telegram_settings(fake, "webhook")
    second = await start_app(aiohttp_server, make_config(db_url, free_port(), telegram=settings))
    chats = [7_000 + n for n in range(20)]
    async with first.runtime.uow() as store:
        for chat in chats:
            to = Recipient("telegram", str(chat))
            payload = {"order_code": f"C{chat}", "language": "en", "tracking": "JNE1"}
            await store.outbox.enqueue(to, "order_shipped", payload, f"test:{chat}")
    for worker in (first.server.app[OUTBOX], second.server.app[OUTBOX]):
        worker.wake()
    assert await outbox_settled(first) == [("order_shipped", "sent")] * len(chats)
    assert sorted(c.chat_id or 0 for c in fake.sent()) == chats


@dataclass
class Recorder:
    """A channel of our own (as the terminal demo plugs in): records what it is given."""

    channel: str = "console"
    pace: Pace = NO_LIMIT
    sent: list[tuple[str, Reply]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)  # per address, in turn

    async def send(self, address: str, reply: Reply, *, kind: str = "") -> None:
        if self.failures.get(address):
            raise self.failures[address].pop(0)
        self.sent.append((address, reply))


async def enqueue(running: Running, address: str, codes: list[str]) -> None:
    async with running.runtime.uow() as store:
        for code in codes:
            payload = {"order_code": code, "language": "en", "reason": "customer"}
            to = Recipient("console", address)
            await store.outbox.enqueue(to, "order_cancelled", payload, f"test:{address}:{code}")


async def test_a_registered_sender_gets_its_channels_rows_in_order(running: Running) -> None:
    recorder = Recorder()
    register_sender(running.server.app, recorder)
    codes = [f"ORD{n:03}" for n in range(12)]  # more than one lane holds: some wait in the table
    await enqueue(running, "demo", codes)
    assert await outbox_settled(running) == [("order_cancelled", "sent")] * len(codes)
    assert [r.text.split()[1] for _, r in recorder.sent] == codes
    assert {address for address, _ in recorder.sent} == {"demo"}


async def test_retry_later_and_undeliverable_from_a_sender(running: Running) -> None:
    failures: dict[str, list[Exception]] = {
        "a": [RetryLater(0.05, "slow down")],
        "b": [Undeliverable("gone")],
    }
    register_sender(running.server.app, Recorder(failures=failures))
    await enqueue(running, "a", ["AAA111"])
    await enqueue(running, "b", ["BBB222"])
    assert await outbox_settled(running) == [
        ("order_cancelled", "failed"),
        ("order_cancelled", "sent"),
    ]
    failed = [r for (r,) in await rows(running, select(Outbox)) if r.failed_at is not None]
    assert [(r.address, r.last_error) for r in failed] == [("b", "gone")]
    first = [r for (r,) in await rows(running, select(Outbox)) if r.address == "a"]
    assert first[0].attempts == 1 and "slow down" in (first[0].last_error or "")


async def test_rows_of_channels_without_a_sender_stay_in_the_table(running: Running) -> None:
    await enqueue(running, "nobody", ["CCC333"])
    running.server.app[OUTBOX].wake()
    assert await running.server.app[OUTBOX].poll() == 0
    assert await outbox_settled(running, within=0.1) == [("order_cancelled", "pending")]


async def test_a_lease_keeps_a_row_from_a_second_claim_until_it_runs_out(
    running: Running,
) -> None:
    await enqueue(running, "x", ["DDD444"])
    sessions = running.runtime.sessions
    assert sessions is not None
    now = utcnow()
    lease = now + timedelta(seconds=60)
    async with transaction(sessions) as session:
        [row] = await OutboxLeases(session).claim_due(now, lease, ["console"], 10)
    async with transaction(sessions) as session:
        assert await OutboxLeases(session).claim_due(now, lease, ["console"], 10) == []
        assert not await OutboxLeases(session).any_due(now, ["console"])
    later = lease + timedelta(seconds=1)
    async with transaction(sessions) as session:
        [again] = await OutboxLeases(session).claim_due(
            later, later + timedelta(seconds=60), ["console"], 1
        )
    assert (again.id, again.attempts) == (row.id, 2)
    async with transaction(sessions) as session:  # the first holder's late word is ignored
        await OutboxLeases(session).give_up(row, later, "too late")
    [(failed_at,)] = await rows(running, select(Outbox.failed_at))
    assert failed_at is None
