"""The 24-hour window and Meta's limits at the outbox: notices inside the window as normal
messages, outside it as the approved template; 131047 falls back to the template once,
whether Meta refuses at once or in a `failed` status; no template means a failed row with the
reason and the merchant told once a day; 131056 and 130429 are waited out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from storage.db import transaction
from storage.models import Outbox, WhatsAppContact, WhatsAppMessage
from tests.channels.telegram.kit import outbox_settled, pay_at_sandbox, rows, the_payment
from tests.channels.whatsapp.fake import WINDOW, FakeGraphAPI, Sent
from tests.channels.whatsapp.kit import (
    CUSTOMER,
    MERCHANT,
    WaUser,
    checkout_to_summary,
    handled,
    serve_fake,
    start_whatsapp,
)
from tests.conftest import Running


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


async def ordered(running: Running, fake: FakeGraphAPI) -> tuple[WaUser, str]:
    """A customer who ordered and chose a VA; the merchant wrote today. Returns the
    customer and the payment's reference."""
    await WaUser(fake, running, MERCHANT).say("hi")
    ana = WaUser(fake, running)
    await checkout_to_summary(ana)
    await ana.tap("pay:sandbox:va:bca")
    return ana, (await the_payment(running)).reference


async def close_window(running: Running, fake: FakeGraphAPI, *, ours: bool = True) -> None:
    """The customer last wrote 25 hours ago: at Meta, and (`ours`) in our table too."""
    fake.last_inbound[CUSTOMER] -= WINDOW + 3600
    if not ours:
        return
    assert running.runtime.sessions is not None
    async with transaction(running.runtime.sessions) as session:
        await session.execute(
            update(WhatsAppContact)
            .where(WhatsAppContact.address == CUSTOMER)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
        )


def templates(fake: FakeGraphAPI, after: int = 0) -> list[Sent]:
    return [s for s in fake.to(CUSTOMER, after) if s.type == "template"]


async def test_a_late_va_payment_is_confirmed_by_template(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    _ana, reference = await ordered(running, fake)
    await close_window(running, fake)
    mark = fake.last_seq
    await pay_at_sandbox(running, reference)
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    [template] = templates(fake, mark)
    assert template.payload["name"] == "payment_confirmed"
    assert template.payload["language"] == {"code": "id"}
    code = reference[:6]
    assert template.text == f"[template payment_confirmed] {code} | Rp 35.000 | VA BCA"
    assert [s for s in fake.to(CUSTOMER, mark) if s.type != "template"] == []
    assert fake.refusals == []


@pytest.mark.parametrize("at_once", [True, False], ids=["refused", "failed-status"])
async def test_a_free_form_send_outside_metas_window_falls_back_to_the_template_once(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI, at_once: bool
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    _ana, reference = await ordered(running, fake)
    await close_window(running, fake, ours=False)  # our table still thinks it is open
    fake.window_sync = at_once
    mark = fake.last_seq
    await pay_at_sandbox(running, reference)
    await fake.wait_for(lambda: templates(fake, mark))
    await outbox_settled(running)
    await handled(running, fake)
    assert len(templates(fake, mark)) == 1
    sent = await rows(
        running, select(WhatsAppMessage.kind, WhatsAppMessage.template, WhatsAppMessage.status)
    )
    assert ("payment_paid", True, "sent") in sent
    if not at_once:
        assert ("payment_paid", False, "failed") in sent


async def test_without_a_template_the_notice_fails_with_the_reason_and_the_merchant_is_told_once(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake, templates={})
    _ana, reference = await ordered(running, fake)
    await close_window(running, fake)
    mark = fake.last_seq
    await pay_at_sandbox(running, reference)
    settled = await outbox_settled(running)
    assert ("payment_paid", "failed") in settled
    [(error,)] = await rows(
        running, select(Outbox.last_error).where(Outbox.kind == "payment_paid")
    )
    assert "24-hour window" in error and "[whatsapp.templates]" in error
    told = [s for s in fake.to(MERCHANT, mark) if "payment_paid" in s.text]
    assert len(told) == 1 and "[whatsapp.templates]" in told[0].text
    assert fake.to(CUSTOMER, mark) == []


async def test_the_pair_rate_limit_is_waited_out(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    ana, reference = await ordered(running, fake)
    fake.pair_burst, fake.pair_every = 1.0, 1.0  # one message a second from now on
    fake._buckets.clear()
    await ana.say("2 kopi susu")  # takes this second's message
    mark = fake.last_seq
    await pay_at_sandbox(running, reference)
    await ana.wait_text("Pembayaran diterima", after=mark, within=30)
    assert await outbox_settled(running) == [("order_paid", "sent"), ("payment_paid", "sent")]
    assert (CUSTOMER, 131056) in fake.refusals


async def test_the_throughput_limit_backs_off_and_then_sends(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    ana, reference = await ordered(running, fake)
    fake.throttle_next = 2
    mark = fake.last_seq
    await pay_at_sandbox(running, reference)
    await ana.wait_text("Pembayaran diterima", after=mark, within=30)
    assert await outbox_settled(running, within=30) == [
        ("order_paid", "sent"),
        ("payment_paid", "sent"),
    ]
    assert [code for _, code in fake.refusals] == [130429, 130429]


async def test_statuses_move_a_notice_only_forward_and_chat_answers_keep_no_rows(
    aiohttp_server: Any, db_url: str, fake: FakeGraphAPI
) -> None:
    running = await start_whatsapp(aiohttp_server, db_url, fake)
    ana, reference = await ordered(running, fake)
    assert await rows(running, select(WhatsAppMessage)) == []  # the chat's own answers
    mark = fake.last_seq
    await pay_at_sandbox(running, reference)
    told = await ana.wait_text("Pembayaran diterima", after=mark)
    await outbox_settled(running)
    for status in ("read", "delivered", "sent", "read"):  # out of order, and again
        await fake.post_status(told.wamid, CUSTOMER, status)
    await handled(running, fake)
    query = select(WhatsAppMessage.status).where(WhatsAppMessage.wamid == told.wamid)
    assert await rows(running, query) == [("read",)]
