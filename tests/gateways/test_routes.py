"""Every registered gateway through the whole app: our server, its fake (or the sandbox's own
provider), real HTTP both ways. The harnesses are in tests/gateways/<name>/harness.py.

The section 6 cases of STYLE.md at the route: a good callback pays once, a duplicate changes
nothing, a forged one is refused and kept, an unmapped status stays pending with a warning, a
wrong amount goes to review, and an unknown outcome while creating never makes two payments.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from payments.base import MethodId
from storage.models import Outbox, Payment, PaymentEvent
from tests.conftest import status_queries
from tests.gateways.harness import Harness, starters

STARTERS = starters()


@pytest.fixture(params=sorted(STARTERS))
async def harness(request: pytest.FixtureRequest, aiohttp_server: Any, db_url: str) -> Harness:
    return await STARTERS[request.param](aiohttp_server, db_url)


async def paid_messages(h: Harness) -> int:
    kinds = await h.rows(select(Outbox.kind).where(Outbox.kind == "payment_paid"))
    return len(kinds)


async def test_a_good_callback_pays_and_writes_exactly_one_confirmation(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await harness.start()
    assert payment.instructions  # a number to pay to, a page to pay on, a phone to approve on
    shown = payment.instructions
    assert shown.get("number") or shown.get("url") or shown.get("phone")
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
    harness.confuse(ours.reference, theirs.reference)
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
    if not harness.confirms_paid_by_query:
        pytest.skip(f"{harness.gateway} signs the status: its callback is believed")
    payment = await harness.start()  # the fake still says pending: the claim is not believed
    assert await harness.send(http, harness.callback_url, payment.reference) == 200
    [(status,)] = await harness.rows(select(Payment.status))
    assert status == "pending"
    assert await paid_messages(harness) == 0
    counted = await status_queries(harness.running)
    assert counted == {(harness.gateway, "callback", "answered"): 1}


async def test_an_unmapped_status_stays_pending_with_a_warning(
    harness: Harness, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    payment = await harness.start()
    harness.set_status(payment.reference, harness.unmapped_status)
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
    harness.set_amount(payment.reference, 1000)
    assert await harness.send(http, harness.callback_url, payment.reference) == 200
    [(status, review)] = await harness.rows(select(Payment.status, Payment.needs_review))
    assert status == "processing" and review
    assert await paid_messages(harness) == 0


@pytest.mark.parametrize("failure", ["timeout", "500", "429"])
async def test_an_unknown_outcome_while_creating_never_makes_two_payments(
    harness: Harness, failure: str
) -> None:
    if harness.fail_next is None:
        pytest.skip(f"{harness.gateway}'s provider has no failure knob for creates")
    harness.fail_next(failure)
    first = await harness.start()
    assert first.status == "pending" and not first.instructions  # outcome unknown: poll later
    again = await harness.running.runtime.start_payment(
        first.reference[:6], MethodId.parse(harness.method)
    )
    assert again.reference == first.reference
    assert harness.created(first.reference) <= 1
