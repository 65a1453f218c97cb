"""PaymentRepo.named: how the callback route finds the payments it asks a gateway about,
many callbacks' in one query."""

from __future__ import annotations

from datetime import timedelta

from payments.attempts import begin_attempt
from payments.base import MethodId
from payments.orders import Shop
from payments.ports import NamedPayment, PaymentName
from tests.conftest import NOW, UnitOfWork, new_order

VA = MethodId.parse("sandbox:va:bca")


async def open_payment(uow: UnitOfWork, shop: Shop, customer_id: int, external_id: str) -> str:
    code = await new_order(uow, shop, customer_id, now=NOW)
    async with uow() as store:
        attempt = await begin_attempt(store, code, VA, expiry=timedelta(hours=24), now=NOW)
        await store.payments.update(attempt.payment_id, external_id=external_id)
    return attempt.reference


async def named(
    uow: UnitOfWork, gateway: str, reference: str | None, external_id: str | None
) -> NamedPayment | None:
    async with uow() as store:
        [found] = await store.payments.named([PaymentName(gateway, reference, external_id)])
        return found


async def test_a_payment_is_named_by_our_reference_or_by_the_gateways_id(
    uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    reference = await open_payment(uow, shop, customer_id, "ext-1")
    expected = NamedPayment(reference, "ext-1", "sandbox", "sandbox:va:bca")
    assert await named(uow, "sandbox", reference, None) == expected
    assert await named(uow, "sandbox", None, "ext-1") == expected
    assert await named(uow, "sandbox", "ZZZZZZ01", "ext-1") == expected
    assert await named(uow, "sandbox", "ZZZZZZ01", None) is None


async def test_the_gateways_id_only_names_a_payment_of_that_gateway(
    uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    reference = await open_payment(uow, shop, customer_id, "ext-1")
    assert await named(uow, "midtrans", None, "ext-1") is None
    found = await named(uow, "midtrans", reference, None)  # the route refuses another's payment
    assert found is not None and found.gateway == "sandbox"


async def test_our_reference_wins_over_an_id_of_another_payment(
    uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    first = await open_payment(uow, shop, customer_id, "ext-1")
    await open_payment(uow, shop, customer_id, "ext-2")
    found = await named(uow, "sandbox", first, "ext-2")
    assert found is not None and found.reference == first


async def test_many_names_in_one_query_each_get_their_own_answer(
    uow: UnitOfWork, shop: Shop, customer_id: int
) -> None:
    first = await open_payment(uow, shop, customer_id, "ext-1")
    second = await open_payment(uow, shop, customer_id, "ext-2")
    names = [
        PaymentName("sandbox", None, "ext-2"),
        PaymentName("sandbox", first, None),
        PaymentName("midtrans", None, "ext-1"),  # their id, another gateway's payment
        PaymentName("sandbox", "ZZZZZZ01", None),
        PaymentName("sandbox", first, "ext-2"),  # our reference wins
        PaymentName("sandbox", None, None),
        PaymentName("sandbox", second, None),  # twice: both get it
        PaymentName("sandbox", second, None),
    ]
    async with uow() as store:
        found = await store.payments.named(names)
    assert [None if f is None else f.reference for f in found] == [
        second,
        first,
        None,
        None,
        first,
        None,
        second,
        second,
    ]
