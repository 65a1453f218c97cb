"""The conversation on the running app: real database, sandbox gateway over HTTP, callbacks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.conversation.model import State
from bot.conversation.replies import Inbound, Reply
from bot.dispatch import chats
from bot.dispatch.dispatcher import handle
from bot.notify.notices import render_notice
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Conversation, Customer, Order, Outbox, Payment, Product
from tests.conftest import Running

METHODS = ["sandbox:va:bca", "sandbox:qris", "sandbox:link", "sandbox:ussd"]


@dataclass
class Person:
    """A Telegram customer typing and tapping; taps resolve against the last buttons shown."""

    runtime: Runtime
    chat_id: str = "1001"
    name: str = "Siti"
    language: str = "id"
    replies: list[Reply] = field(default_factory=list)
    updates: int = 0
    taps: int = 0

    async def send(self, kind: str, **fields: Any) -> list[Reply]:
        self.updates += 1
        self.taps += kind == "tap"
        inbound = Inbound(
            channel="telegram",
            chat_id=self.chat_id,
            kind=kind,  # type: ignore[arg-type]
            name=self.name,
            language_hint=self.language,
            event_id=f"{self.chat_id}-{self.updates}",
            **fields,
        )
        replies = await handle(self.runtime, inbound)
        self.replies += replies
        return replies

    async def command(self, name: str, args: str = "") -> list[Reply]:
        return await self.send("command", command=name, text=args)

    async def text(self, text: str) -> list[Reply]:
        return await self.send("text", text=text)

    async def tap(self, prefix: str) -> list[Reply]:
        return await self.send("tap", choice_id=self.button(prefix))

    def button(self, prefix: str) -> str:
        shown = next((r.choices for r in reversed(self.replies) if r.choices), ())
        found = [c.id for c in shown if c.id.startswith(prefix)]
        assert found, f"no {prefix!r} in {[c.id for c in shown]}"
        return found[0]


async def to_summary(person: Person) -> None:
    await person.command("start")
    await person.tap("m:catalog")
    await person.tap("cat:coffee")
    await person.tap("add:KOPI-SUSU")
    await person.tap("co")
    await person.tap("ck:name")
    await person.text("0812 3456 7890")
    await person.text("Jl. Merdeka No. 1, Jakarta")


async def rows(runtime: Runtime, statement: Any) -> list[Any]:
    assert runtime.sessions is not None
    async with transaction(runtime.sessions) as session:
        return list((await session.execute(statement)).all())


async def pay_at_sandbox(running: Running, reference: str) -> None:
    await running.runtime.gateways["sandbox"].settle(reference, "pay")  # type: ignore[attr-defined]
    assert running.runtime.sandbox is not None
    await running.runtime.sandbox.flush()


async def outbox_settled(runtime: Runtime, kind: str) -> list[Any]:
    """The outbox rows of a kind, once the callback's apply has committed them."""
    for _ in range(200):
        found = await rows(runtime, select(Outbox).where(Outbox.kind == kind))
        if found:
            return [r[0] for r in found]
        await asyncio.sleep(0.02)
    return []


@pytest.mark.parametrize("method", METHODS)
async def test_a_whole_checkout_in_the_chat_ends_paid_and_confirmed_once(
    running: Running, method: str
) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    [instructions] = await siti.tap(f"pay:{method}")
    assert siti.taps <= 6
    [(payment,)] = await rows(running.runtime, select(Payment))
    assert payment.method == method and payment.instructions
    assert payment.reference[:6] in instructions.text and "Rp 35.000" in instructions.text

    await pay_at_sandbox(running, payment.reference)
    [paid] = await outbox_settled(running.runtime, "payment_paid")
    assert (paid.channel, paid.address) == ("telegram", "1001")
    text = render_notice(paid.kind, paid.payload, language="id", tz="Asia/Jakarta").text
    assert text.startswith(f"Pembayaran diterima: pesanan {payment.reference[:6]}, Rp 35.000")
    [(order_status,)] = await rows(running.runtime, select(Order.status))
    assert order_status == "paid"

    [status] = await siti.text("sudah bayar")
    assert "diterima ✓" in status.text
    count = select(func.count()).select_from(Outbox).where(Outbox.kind == "payment_paid")
    assert await rows(running.runtime, count) == [(1,)]  # told once


async def test_the_customer_record_keeps_name_phone_and_the_stock_is_reserved(
    running: Running,
) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    await siti.tap("pay:sandbox:va:bca")
    [(customer,)] = await rows(running.runtime, select(Customer))
    assert (customer.name, customer.phone, customer.language) == ("Siti", "+6281234567890", "id")
    [(stock,)] = await rows(
        running.runtime, select(Product.stock).where(Product.sku == "KOPI-SUSU")
    )
    assert stock == 99
    [(delivery,)] = await rows(running.runtime, select(Order.delivery))
    assert delivery["address"] == "Jl. Merdeka No. 1, Jakarta"


async def test_pay_tapped_twice_at_once_gives_one_order_and_one_payment(running: Running) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    pay = siti.button("pay:sandbox:va:bca")
    await asyncio.gather(siti.send("tap", choice_id=pay), siti.send("tap", choice_id=pay))
    await siti.send("tap", choice_id=pay)  # and once more, later, from the same old summary
    assert await rows(running.runtime, select(func.count()).select_from(Order)) == [(1,)]
    assert await rows(running.runtime, select(func.count()).select_from(Payment)) == [(1,)]


async def test_pay_again_with_the_same_method_reuses_the_live_attempt(running: Running) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    [first] = await siti.tap("pay:sandbox:qris")
    await siti.tap("chg:")
    [again] = await siti.tap("pay:sandbox:qris")
    assert await rows(running.runtime, select(func.count()).select_from(Payment)) == [(1,)]
    assert first.image is not None and again.image is not None
    assert first.image.qr_payload == again.image.qr_payload


async def test_concurrent_updates_of_one_chat_never_overwrite_each_other(
    running: Running,
) -> None:
    siti = Person(running.runtime)
    await siti.command("start")
    await asyncio.gather(*(siti.send("tap", choice_id="add:TEH-TARIK") for _ in range(6)))
    [(state,)] = await rows(running.runtime, select(Conversation.state))
    assert State.from_json(state).cart == (("TEH-TARIK", 6),)


async def test_a_save_with_a_stale_version_is_refused(running: Running) -> None:
    siti = Person(running.runtime)
    await siti.command("start")
    sessions = running.runtime.sessions
    assert sessions is not None
    [(conversation_id,)] = await rows(running.runtime, select(Conversation.id))
    state, version = await chats.load_state(sessions, conversation_id)
    assert await chats.save_state(sessions, conversation_id, version, state.to("summary"))
    assert not await chats.save_state(sessions, conversation_id, version, state.to("idle"))
    assert (await chats.load_state(sessions, conversation_id))[0].stage == "summary"


async def test_a_redelivered_update_is_handled_once(running: Running) -> None:
    siti = Person(running.runtime)
    await siti.command("start")
    tap = Inbound(
        channel="telegram", chat_id="1001", kind="tap", choice_id="add:TEH-TARIK", event_id="u77"
    )
    assert await handle(running.runtime, tap)
    assert await handle(running.runtime, tap) == []
    [(state,)] = await rows(running.runtime, select(Conversation.state))
    assert State.from_json(state).cart == (("TEH-TARIK", 1),)


async def test_another_customers_order_and_payment_stay_out_of_reach(running: Running) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    await siti.tap("pay:sandbox:va:bca")
    [(code, payment_id)] = await rows(
        running.runtime, select(Order.code, Payment.id).join(Payment)
    )
    budi = Person(running.runtime, chat_id="2002", name="Budi")
    await budi.command("start")
    for choice in (f"ord:{code}", f"chk:{payment_id}", f"cxly:{code}", f"repay:{code}"):
        [reply] = await budi.send("tap", choice_id=choice)
        assert code not in reply.text, choice
    assert await rows(running.runtime, select(Order.status)) == [("pending_payment",)]


async def test_cancelling_in_the_chat_releases_stock_and_the_payment(running: Running) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    await siti.tap("pay:sandbox:va:bca")
    await siti.tap("cxl:")
    await siti.tap("cxly:")
    assert await rows(running.runtime, select(Order.status)) == [("cancelled",)]
    assert await rows(running.runtime, select(Payment.status)) == [("cancelled",)]
    stock = select(Product.stock).where(Product.sku == "KOPI-SUSU")
    assert await rows(running.runtime, stock) == [(100,)]
    [notice] = await rows(running.runtime, select(Outbox.kind, Outbox.payload))
    assert notice[0] == "order_cancelled" and notice[1]["reason"] == "customer"


async def test_my_orders_shows_the_status_and_details(running: Running) -> None:
    siti = Person(running.runtime)
    await to_summary(siti)
    await siti.tap("pay:sandbox:link")
    [(code, reference)] = await rows(
        running.runtime, select(Order.code, Payment.reference).join(Payment)
    )
    await pay_at_sandbox(running, reference)
    await outbox_settled(running.runtime, "payment_paid")
    [listing] = await siti.command("orders")
    assert code in listing.text and "lunas" in listing.text
    [details] = await siti.tap(f"ord:{code}")
    assert "1× Kopi Susu" in details.text and "Total: Rp 35.000" in details.text


async def test_the_chosen_language_is_kept_for_later_notices(running: Running) -> None:
    siti = Person(running.runtime, language="en")
    [hello] = await siti.command("start")
    assert hello.text.startswith("Hello Siti!")
    await siti.command("language", "sw")
    [(language,)] = await rows(running.runtime, select(Customer.language))
    assert language == "sw"
    [jambo] = await siti.command("start")
    assert jambo.text.startswith("Jambo Siti!")
