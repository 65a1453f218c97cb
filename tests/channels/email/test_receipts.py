"""Email receipts over real SMTP (tests/channels/email/smtp.py): one per paid order, in the
customer's language, as text and HTML, also when callbacks repeat and across a restart;
none for a customer without an address; a busy server is tried again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.config import Config, Email
from storage.models import Outbox
from tests.channels.email.smtp import Login, Mailbox, serve
from tests.channels.telegram.kit import outbox_settled
from tests.integration.apikit import CUSTOMER, ApiClient, api_config, start_api

SENDER = "Warung Demo <receipts@warung.test>"


@pytest.fixture
def smtp() -> Iterator[tuple[Any, Mailbox]]:
    controller, mailbox = serve()
    yield controller, mailbox
    controller.stop()


def with_email(config: Config, controller: Any, **settings: Any) -> Config:
    email = Email(enabled=True, host="127.0.0.1", port=controller.port, security="none",
                  sender=SENDER, **settings)  # fmt: skip
    return replace(config, email=email, shop=replace(config.shop, name="Warung Demo"))


async def pay(api: ApiClient, **customer: Any) -> str:
    order = await api.place(customer={**CUSTOMER, **customer})
    payment = await api.pay_with(order["code"], "sandbox:qris")
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    return str(order["code"])


async def test_a_paid_order_gets_one_receipt_as_text_and_html(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, smtp: tuple[Any, Mailbox]
) -> None:
    controller, mailbox = smtp
    config = with_email(api_config(db_url, duplicate_share=1.0), controller)
    api = await start_api(aiohttp_server, config, http)
    code = await pay(api, email="siti@example.com", language="en")
    await outbox_settled(api.running)
    [mail] = await mailbox.wait(1)
    assert mail["To"] == "siti@example.com" and mail["From"] == SENDER
    assert mail["Subject"] == f"Warung Demo: Receipt for order {code}"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert "2× Milk Coffee" in body and "Total: Rp 50.000" in body and "QRIS" in body
    assert "<strong>Total: Rp 50.000</strong>" in html.get_content()
    await api.runtime.outbox.flush()
    assert len(mailbox.received) == 1  # the second callback wrote no second receipt


async def test_the_receipt_speaks_the_customers_language(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, smtp: tuple[Any, Mailbox]
) -> None:
    controller, mailbox = smtp
    api = await start_api(aiohttp_server, with_email(api_config(db_url), controller), http)
    code = await pay(api, email="siti@example.com", language="sw")
    [mail] = await mailbox.wait(1)
    assert mail["Subject"] == f"Warung Demo: Risiti ya agizo {code}"


async def test_no_address_no_receipt(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, smtp: tuple[Any, Mailbox]
) -> None:
    controller, mailbox = smtp
    api = await start_api(aiohttp_server, with_email(api_config(db_url), controller), http)
    await pay(api)
    await outbox_settled(api.running)
    assert await api.rows(select(Outbox.id).where(Outbox.channel == "email")) == []
    assert mailbox.received == []


async def test_a_busy_server_is_tried_again_and_a_restart_sends_it_once(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, smtp: tuple[Any, Mailbox]
) -> None:
    controller, mailbox = smtp
    mailbox.refuse = 1  # the first try is turned away with 451
    config = with_email(api_config(db_url), controller)
    first = await start_api(aiohttp_server, config, http)
    code = await pay(first, email="siti@example.com")
    await first.running.server.close()  # the app stops with the receipt not yet sent
    second = await start_api(aiohttp_server, config, http)
    await outbox_settled(second.running, within=30)
    mails = await mailbox.wait(1, within=30)
    assert [m["Subject"] for m in mails] == [f"Warung Demo: Tanda terima pesanan {code}"]
    [(attempts,)] = await second.rows(select(Outbox.attempts).where(Outbox.channel == "email"))
    assert attempts >= 2


async def test_the_login_is_used(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    controller, mailbox = serve(Login("shop", "s3cret"))
    try:
        config = with_email(api_config(db_url), controller, user="shop", password="s3cret")
        api = await start_api(aiohttp_server, config, http)
        await pay(api, email="siti@example.com")
        await outbox_settled(api.running)
        errors = await api.rows(select(Outbox.last_error).where(Outbox.channel == "email"))
        assert len(await mailbox.wait(1)) == 1, errors
    finally:
        controller.stop()
