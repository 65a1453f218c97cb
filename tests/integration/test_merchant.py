"""The merchant's chat on Telegram: paid orders arrive, commands run the shop."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from payments.base import MethodId
from storage.models import Customer, Order, Payment, Product, Refund
from tests.channels.telegram.fake import FakeBotAPI
from tests.channels.telegram.kit import (
    MERCHANT_CHAT,
    TgUser,
    outbox_settled,
    pay_at_sandbox,
    rows,
    serve_fake,
    start_bot,
)
from tests.conftest import Running, add_customer, new_order

CUSTOMER = 5550001


@pytest.fixture
async def fake(aiohttp_server: Any) -> Any:
    fake = await serve_fake(aiohttp_server)
    yield fake
    await fake.close()


@pytest.fixture
async def running(aiohttp_server: Any, db_url: str, fake: FakeBotAPI) -> Running:
    return await start_bot(aiohttp_server, db_url, fake, "webhook")


@pytest.fixture
def boss(fake: FakeBotAPI, running: Running) -> TgUser:
    return TgUser(fake, running, MERCHANT_CHAT)


async def an_order(running: Running, *, pay: bool = True) -> tuple[str, str]:
    """A Telegram customer's order of 2 Kopi Susu (its code and payment reference)."""
    runtime = running.runtime
    assert runtime.sessions is not None
    customer = await add_customer(runtime.sessions, str(CUSTOMER))
    code = await new_order(runtime.uow, runtime.shop, customer)
    payment = await runtime.start_payment(code, MethodId.parse("sandbox:va:bca"))
    if pay:
        await pay_at_sandbox(running, payment.reference)
        await outbox_settled(running)
    return code, payment.reference


def data(call: Any) -> list[str]:
    return [str(b.get("callback_data")) for b in call.buttons]


async def test_a_paid_order_reaches_the_merchant_once_with_items_and_customer(
    running: Running, fake: FakeBotAPI
) -> None:
    code, _ = await an_order(running)
    [notice] = fake.sent(MERCHANT_CHAT)
    assert code in notice.text and "2× Kopi Susu" in notice.text and "Siti" in notice.text


async def test_the_merchant_lists_shows_and_ships_an_order(
    running: Running, fake: FakeBotAPI, boss: TgUser
) -> None:
    code, _ = await an_order(running)
    [paid] = await boss.say("/orders paid")
    assert code in paid.text
    [none] = await boss.say("/orders shipped")
    assert code not in none.text
    [listing] = await boss.say("/orders")
    assert code in listing.text and f"mo:{code}" in data(listing)
    [detail] = await boss.tap(f"mo:{code}")
    assert "2× Kopi Susu" in detail.text and "Siti" in detail.text
    assert data(detail) == [f"ms:{code}", f"mc:{code}", f"mrf:{code}"]
    mark = fake.last_seq
    [shipped] = await boss.say(f"/ship {code} JNE-0042")
    assert code in shipped.text
    assert await rows(running, select(Order.status, Order.tracking)) == [("shipped", "JNE-0042")]
    customer = TgUser(fake, running, CUSTOMER)
    told = await customer.wait_text(code, "JNE-0042", after=mark)
    assert "ms:" not in str(told.params)
    [again] = await boss.tap_data(f"ms:{code}")  # an old button: shipped already
    assert "only paid orders ship" in again.text


async def test_cancelling_releases_the_stock_and_tells_the_customer(
    running: Running, fake: FakeBotAPI, boss: TgUser
) -> None:
    code, _ = await an_order(running, pay=False)
    stock = select(Product.stock).where(Product.sku == "KOPI-SUSU")
    assert await rows(running, stock) == [(98,)]
    mark = fake.last_seq
    [done] = await boss.say(f"/cancel {code} sold out today")
    assert code in done.text
    assert await rows(running, stock) == [(100,)]
    assert await rows(running, select(Order.status)) == [("cancelled",)]
    assert await rows(running, select(Payment.status)) == [("cancelled",)]
    customer = TgUser(fake, running, CUSTOMER)
    await customer.wait_text(code, "sold out today", after=mark)


async def test_cancelling_a_paid_order_by_its_buttons_reminds_of_the_refund(
    running: Running, boss: TgUser
) -> None:
    code, _ = await an_order(running)
    await boss.say(f"/order {code}")
    [question] = await boss.tap(f"mc:{code}")
    assert data(question) == [f"mcy:{code}", f"mo:{code}"]
    [done] = await boss.tap(f"mcy:{code}")
    assert "Rp 50.000" in done.text  # 2 Kopi Susu, picked up: to refund
    assert await rows(running, select(Order.status)) == [("cancelled",)]


async def test_a_part_then_the_rest_refunded_from_the_chat_each_told_once(
    running: Running, fake: FakeBotAPI, boss: TgUser
) -> None:
    code, _ = await an_order(running)
    [question] = await boss.say(f"/refund {code} 20.000")
    assert "Rp 20.000" in question.text and "Sandbox" in question.text
    assert data(question) == [f"mrfy:{code} 20000", f"mo:{code}"]
    mark = fake.last_seq
    [done] = await boss.tap_data(f"mrfy:{code} 20000")
    assert "Rp 20.000" in done.text and code in done.text
    customer = TgUser(fake, running, CUSTOMER)
    await customer.wait_text("Rp 20.000", code, after=mark)
    assert await rows(running, select(Payment.status)) == [("paid",)]
    [rest] = await boss.tap_data(f"mrf:{code}")  # the order's Refund button: what is left
    assert "Rp 30.000" in rest.text
    [whole] = await boss.tap_data(f"mrfy:{code} 30000")
    assert "Rp 30.000" in whole.text
    await outbox_settled(running)
    assert await rows(running, select(Payment.status)) == [("refunded",)]
    refunds = [c for c in fake.sent(CUSTOMER) if "Rp 20.000" in c.text or "Rp 30.000" in c.text]
    assert len(refunds) == 2  # once each
    [stale] = await boss.tap_data(f"mrfy:{code} 30000")  # the old button again
    assert "refunded in full" in stale.text
    assert len(await rows(running, select(Refund.id))) == 2


async def test_a_refund_over_what_is_left_or_of_an_unpaid_order_is_refused(
    running: Running, boss: TgUser
) -> None:
    code, reference = await an_order(running, pay=False)
    [none] = await boss.say(f"/refund {code}")
    assert code in none.text and not data(none)
    await pay_at_sandbox(running, reference)
    [too_much] = await boss.say(f"/refund {code} 60000")
    assert "Rp 50.000" in too_much.text and not data(too_much)
    [usage] = await boss.say("/refund")
    assert "/refund A7K2Q9" in usage.text
    assert await rows(running, select(Refund.id)) == []


async def test_stats_for_today_and_another_day(running: Running, boss: TgUser) -> None:
    await an_order(running)
    [today] = await boss.say("/stats")
    assert "1" in today.text and "Rp 50.000" in today.text and "sandbox:va:bca" in today.text
    [empty] = await boss.say("/stats 2001-01-01")
    assert "Rp 50.000" not in empty.text
    [unclear] = await boss.say("/stats someday")
    assert "/stats 2026-11-22" in unclear.text


async def test_export_sends_the_orders_as_a_csv_document(
    running: Running, fake: FakeBotAPI, boss: TgUser
) -> None:
    code, reference = await an_order(running)
    async with running.runtime.uow() as store:
        await store.session.execute(update(Customer).values(name="=HYPERLINK(evil)"))
    [document] = await boss.say("/export")
    assert document.method == "sendDocument"
    filename, content = document.files["document"]
    assert filename.startswith("orders-") and filename.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(r["code"], r["status"], r["payment_reference"]) for r in table] == [
        (code, "paid", reference)
    ]
    assert table[0]["customer_name"] == "'=HYPERLINK(evil)" and table[0]["items"] == "2x Kopi Susu"
    [nothing] = await boss.say("/export 2001-01-01 2001-01-31")
    assert nothing.method == "sendDocument" and nothing.files["document"][1].count(b"\n") == 1
    [unclear] = await boss.say("/export 2026-12-01 2026-11-01")
    assert unclear.method == "sendMessage"


async def test_a_payment_to_review_alerts_the_merchant(
    running: Running, fake: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    _, reference = await an_order(running, pay=False)
    body = json.dumps(
        {
            "reference": reference,
            "id": "x",
            "status": "PAID",
            "amount": 1,
            "currency": "IDR",
            "method": "va:bca",
        }
    ).encode()
    secret = running.runtime.config.payments.sandbox.secret.encode()
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Sandbox-Signature": signature}
    async with http.post(running.url("/callbacks/sandbox"), data=body, headers=headers) as resp:
        assert resp.status == 200
    boss = TgUser(fake, running, MERCHANT_CHAT)
    alert = await boss.wait_text(reference)
    assert "amount mismatch" in alert.text


async def test_the_merchant_gets_the_command_list_for_anything_else(boss: TgUser) -> None:
    for said in ("hello", "/start", "/order", "/ship NOSUCH"):
        [reply] = await boss.say(said)
        assert reply.text
    [help_text] = await boss.say("hello")
    assert "/export" in help_text.text
    [unknown] = await boss.say("/order NOSUCH")
    assert "NOSUCH" in unknown.text
    [order_button] = await boss.tap_data("ord:NOSUCH")  # "Order details" under a notice
    assert "NOSUCH" in order_button.text


async def test_a_customer_cannot_reach_the_merchant_commands(
    running: Running, fake: FakeBotAPI
) -> None:
    code, _ = await an_order(running, pay=False)
    customer = TgUser(fake, running, CUSTOMER)
    [refused] = await customer.say(f"/cancel {code}")  # theirs: the checkout's cancel
    assert "staf" not in refused.text  # "staf" in Indonesian, "staff" in English
    for command in (f"/ship {code}", f"/order {code}", "/stats", "/export"):
        [reply] = await customer.say(command)
        assert "staf" in reply.text
    await customer.tap_data(f"ms:{code}")
    assert await rows(running, select(Order.status)) == [("pending_payment",)]


@pytest.mark.parametrize("said", ["/order ../../x", "/ship A7K2Q9\u00b2", "/cancel " + "A" * 40])
async def test_a_command_argument_that_is_no_order_code_gets_the_usage_line(
    boss: TgUser, said: str
) -> None:
    [reply] = await boss.say(said)
    assert said.split()[0] + " A7K2Q9" in reply.text, reply.text  # "For example: /ship A7K2Q9"


async def test_an_edited_cancel_button_gets_the_command_list(boss: TgUser) -> None:
    [reply] = await boss.tap_data("mc:" + "x" * 30)
    assert "/export" in reply.text
