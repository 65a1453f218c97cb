"""M-Pesa at our callback route, the cases the shared suite (tests/gateways/test_routes.py)
leaves to each gateway: the per-payment URL token (wrong, absent, another payment's), Daraja's
own answer shape, a declined prompt, and a callback body replayed at another payment's URL."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from storage.models import Outbox, Payment, PaymentEvent
from tests.gateways.harness import Harness
from tests.gateways.mpesa.harness import start

QUERY = ("POST", "/mpesa/stkpushquery/v1/query")


@pytest.fixture
async def mpesa(aiohttp_server: Any, db_url: str) -> Harness:
    return await start(aiohttp_server, db_url)


async def kept_refusals(h: Harness) -> list[tuple[Any, ...]]:
    assert h.running.runtime.refused is not None
    await h.running.runtime.refused.flush()
    return [tuple(r) for r in await h.rows(select(PaymentEvent.verified, PaymentEvent.outcome))]


@pytest.mark.parametrize(
    "token", ["A7K2Q901.0123456789abcdef0123456789abcdef", "{reference}.{wrong}", "{reference}"]
)
async def test_a_callback_with_a_wrong_token_is_404_kept_and_changes_nothing(
    mpesa: Harness, http: aiohttp.ClientSession, token: str
) -> None:
    payment = await mpesa.start()
    mpesa.pay(payment.reference)
    url = mpesa.fake.push(payment.reference)["CallBackURL"]
    good = url.rsplit("/", 1)[1]
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    shown = token.format(reference=payment.reference, wrong=wrong.split(".")[1])
    body = mpesa.fake.callback(payment.reference)
    assert await mpesa.fake.post(http, f"{mpesa.callback_url}/{shown}", body) == 404
    [(status,)] = await mpesa.rows(select(Payment.status))
    assert status == "pending"
    assert await kept_refusals(mpesa) == [(False, "rejected")]
    assert QUERY not in mpesa.fake.calls  # a stranger's claim costs no status query


async def test_a_callback_without_a_token_is_401_and_changes_nothing(
    mpesa: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await mpesa.start()
    mpesa.pay(payment.reference)
    assert await mpesa.send(http, mpesa.callback_url, payment.reference, forged=True) == 401
    [(status,)] = await mpesa.rows(select(Payment.status))
    assert status == "pending"
    assert await kept_refusals(mpesa) == [(False, "rejected")]


async def test_daraja_is_answered_in_its_own_shape(
    mpesa: Harness, http: aiohttp.ClientSession
) -> None:
    payment = await mpesa.start()
    mpesa.pay(payment.reference)
    url = mpesa.fake.push(payment.reference)["CallBackURL"]
    async with http.post(url, json=mpesa.fake.callback(payment.reference)) as resp:
        assert resp.status == 200
        assert await resp.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}


async def test_a_paid_body_replayed_at_another_payments_url_pays_only_what_daraja_confirms(
    mpesa: Harness, http: aiohttp.ClientSession
) -> None:
    """The token names the payment; the query asks by that payment's own push id, so a body
    about another push (paid) cannot pay this one (still open)."""
    paid, open_ = await mpesa.start("1001"), await mpesa.start("1002")
    mpesa.pay(paid.reference)
    elsewhere = mpesa.fake.push(open_.reference)["CallBackURL"]
    assert await mpesa.fake.post(http, elsewhere, mpesa.fake.callback(paid.reference)) == 200
    statuses = dict(await mpesa.rows(select(Payment.reference, Payment.status)))
    assert statuses == {paid.reference: "pending", open_.reference: "pending"}
    assert not await mpesa.rows(select(Outbox.kind).where(Outbox.kind == "payment_paid"))


@pytest.mark.parametrize(
    ("code", "status", "told"),
    [
        ("2001", "failed", ["payment_failed"]),  # wrong PIN
        ("1037", "expired", ["payment_expired"]),  # the phone was not reached in time
        ("1032", "cancelled", []),  # the customer said no: no "did not go through" for that
    ],
)
async def test_a_declined_prompt_ends_the_payment_as_daraja_confirms_and_tells_once(
    mpesa: Harness, http: aiohttp.ClientSession, code: str, status: str, told: list[str]
) -> None:
    payment = await mpesa.start()
    mpesa.fake.set_status(payment.reference, code)
    for _ in range(2):
        assert await mpesa.send(http, mpesa.callback_url, payment.reference, status=code) == 200
    [(now,)] = await mpesa.rows(select(Payment.status))
    assert now == status
    kinds = [k for (k,) in await mpesa.rows(select(Outbox.kind)) if k.startswith("payment_")]
    assert kinds == told
