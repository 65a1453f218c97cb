"""Midtrans and iPaymu through the whole app: our server, their fakes, real HTTP both ways.

The section 6 cases of STYLE.md at the route: a good callback pays once, a duplicate changes
nothing, a forged one is refused and kept, an unmapped status stays pending with a warning, a
wrong amount goes to review, and an unknown outcome while creating never makes two payments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from payments.base import MethodId
from storage.db import transaction
from storage.models import Outbox, Payment, PaymentEvent
from tests.conftest import Running, add_customer, free_port, make_config, new_order, start_app
from tests.fakes.ipaymu import FakeIpaymu
from tests.fakes.midtrans import FakeMidtrans

MIDTRANS_KEY = "SB-Mid-server-FAKE"
IPAYMU_VA, IPAYMU_KEY = "0000001234567890", "SANDBOX-FAKE-KEY"


@dataclass
class Harness:
    gateway: str
    method: str
    fake: Any
    running: Running
    send: Callable[..., Awaitable[int]]  # (http, url, reference, **kw) -> HTTP status
    pay: Callable[[str], None]
    created: Callable[[str], int]  # payments the fake holds for a reference

    @property
    def callback_url(self) -> str:
        return self.running.runtime.callback_url(self.gateway)

    async def start(self, chat_id: str = "1001", method: str | None = None) -> Payment:
        runtime = self.running.runtime
        assert runtime.sessions is not None
        customer = await add_customer(runtime.sessions, chat_id)
        async with transaction(runtime.sessions) as session:
            from storage.models import Customer

            row = await session.get(Customer, customer)
            assert row is not None
            row.phone = "+6281234567890"
        code = await new_order(runtime.uow, runtime.shop, customer)
        return await runtime.start_payment(code, MethodId.parse(method or self.method))

    async def rows(self, statement: Any) -> list[Any]:
        assert self.running.runtime.sessions is not None
        async with transaction(self.running.runtime.sessions) as session:
            return list((await session.execute(statement)).all())


async def midtrans(aiohttp_server: Any, db_url: str) -> Harness:
    fake = FakeMidtrans(MIDTRANS_KEY, slow_seconds=3.5)
    server = await aiohttp_server(fake.app)
    base = str(server.make_url("")).rstrip("/")
    config = make_config(db_url, free_port())
    section = replace(
        config.payments.midtrans,
        enabled=True,
        base_url=base,
        snap_url=base,
        server_key=MIDTRANS_KEY,
        methods=("va:bca", "qris", "link"),
        timeout=2,  # roomy: a busy CI machine must not time out by accident
    )
    config = replace(config, payments=replace(config.payments, midtrans=section))
    running = await start_app(aiohttp_server, config)
    return Harness(
        "midtrans",
        "midtrans:va:bca",
        fake,
        running,
        fake.send_notification,
        fake.settle,
        fake.charge_count,
    )


async def ipaymu(aiohttp_server: Any, db_url: str) -> Harness:
    fake = FakeIpaymu(va=IPAYMU_VA, api_key=IPAYMU_KEY, slow_seconds=3.5)
    server = await aiohttp_server(fake.app)
    base = str(server.make_url("")).rstrip("/")
    config = make_config(db_url, free_port())
    section = replace(
        config.payments.ipaymu,
        enabled=True,
        base_url=base,
        va=IPAYMU_VA,
        api_key=IPAYMU_KEY,
        methods=("va:bni", "qris", "link"),
        timeout=2,  # roomy: a busy CI machine must not time out by accident
    )
    config = replace(config, payments=replace(config.payments, ipaymu=section))
    running = await start_app(aiohttp_server, config)
    return Harness(
        "ipaymu", "ipaymu:va:bni", fake, running, fake.send_callback, fake.pay, fake.payments_for
    )


@pytest.fixture(params=[midtrans, ipaymu], ids=["midtrans", "ipaymu"])
async def harness(request: pytest.FixtureRequest, aiohttp_server: Any, db_url: str) -> Harness:
    return await request.param(aiohttp_server, db_url)


async def paid_messages(h: Harness) -> int:
    kinds = await h.rows(select(Outbox.kind).where(Outbox.kind == "payment_paid"))
    return len(kinds)


async def test_a_good_callback_pays_and_writes_exactly_one_confirmation(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await harness.start()
    assert payment.instructions and payment.instructions["number"]
    harness.pay(payment.reference)
    assert await harness.send(http, harness.callback_url, payment.reference) == 200
    [(status,)] = await harness.rows(select(Payment.status))
    assert status == "paid"
    assert await paid_messages(harness) == 1


async def test_a_status_answer_about_another_payment_moves_nothing_and_is_flagged(
    harness: Harness,
) -> None:
    """The shared rule (payments/base.py names_another_payment) on each confirm-by-query
    gateway: an answer that names another payment never pays ours, however paid it is."""
    ours, theirs = await harness.start("1001"), await harness.start("1002")
    harness.pay(theirs.reference)
    harness.fake.confuse(ours.reference, theirs.reference)
    runtime = harness.running.runtime
    assert runtime.check_status is not None
    await runtime.check_status(ours.id)
    [(status, review)] = await harness.rows(
        select(Payment.status, Payment.needs_review).where(Payment.id == ours.id)
    )
    assert (status, review) == ("pending", True)


async def test_a_duplicate_callback_changes_nothing(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await harness.start()
    harness.pay(payment.reference)
    for _ in range(3):
        assert await harness.send(http, harness.callback_url, payment.reference) == 200
    assert await paid_messages(harness) == 1
    outcomes = [o for (o,) in await harness.rows(select(PaymentEvent.outcome))]
    assert outcomes.count("applied") == 1


async def test_concurrent_callbacks_each_confirm_their_own_payment(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    """Concurrent callbacks share their look-ups (payments/batcher.py, PaymentFinder): each
    must still be asked about, and applied to, its own payment; half were never paid."""
    payments = [await harness.start(str(1001 + i)) for i in range(8)]
    paid = {p.reference for p in payments[::2]}
    for reference in paid:
        harness.pay(reference)
    sends = [harness.send(http, harness.callback_url, p.reference) for p in payments * 2]
    assert set(await asyncio.gather(*sends)) == {200}
    rows = await harness.rows(select(Payment.reference, Payment.status))
    assert {ref for ref, status in rows if status == "paid"} == paid
    assert await paid_messages(harness) == len(paid)


async def test_a_forged_callback_is_401_kept_unverified_and_changes_nothing(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await harness.start()
    status = await harness.send(http, harness.callback_url, payment.reference, forged=True)
    assert status == 401
    [(payment_status,)] = await harness.rows(select(Payment.status))
    assert payment_status == "pending"
    assert harness.running.runtime.refused is not None
    await harness.running.runtime.refused.flush()
    assert await harness.rows(select(PaymentEvent.verified, PaymentEvent.outcome)) == [
        (False, "rejected")
    ]
    assert await paid_messages(harness) == 0


async def test_a_callback_claiming_paid_is_confirmed_by_a_status_query_first(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await harness.start()  # the fake still says pending: the claim is not believed
    assert await harness.send(http, harness.callback_url, payment.reference) == 200
    [(status,)] = await harness.rows(select(Payment.status))
    assert status == "pending"
    assert await paid_messages(harness) == 0


async def test_an_unmapped_status_stays_pending_with_a_warning(
    harness: Harness, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    payment = await harness.start()
    weird = "mystery" if harness.gateway == "midtrans" else 42
    harness.fake.set_status(payment.reference, weird)
    with caplog.at_level(logging.WARNING):
        await harness.send(http, harness.callback_url, payment.reference)
    [(status,)] = await harness.rows(select(Payment.status))
    assert status == "pending"
    assert "unmapped status" in caplog.text


async def test_a_wrong_amount_is_never_paid_and_goes_to_review(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await harness.start()
    harness.pay(payment.reference)
    if harness.gateway == "midtrans":
        harness.fake.orders[payment.reference]["gross_amount"] = "1000.00"
    else:
        harness.fake.latest(payment.reference).amount = 1000
    assert await harness.send(http, harness.callback_url, payment.reference) == 200
    [(status, review)] = await harness.rows(select(Payment.status, Payment.needs_review))
    assert status == "processing" and review
    assert await paid_messages(harness) == 0


@pytest.mark.parametrize("failure", ["timeout", "500", "429"])
async def test_an_unknown_outcome_while_creating_never_makes_two_payments(
    harness: Harness, failure: str
) -> None:
    harness.fake.fail_next(failure)
    first = await harness.start()
    assert first.status == "pending" and not first.instructions  # outcome unknown: poll later
    again = await harness.running.runtime.start_payment(
        first.reference[:6], MethodId.parse(harness.method)
    )
    assert again.reference == first.reference
    assert harness.created(first.reference) <= 1
