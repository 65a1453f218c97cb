"""Property: any sequence of events for one payment, duplicated and reordered, ends where the
transition rules say, never leaves a final state backwards and never messages twice."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from payments.base import LATE_PAID_FROM, PaymentResult, PaymentStatus, can_move
from payments.orders import Shop
from payments.service import BatchItem, apply_batch
from storage.db import Sessions, transaction
from storage.models import Order, Outbox, Payment, Product
from tests.conftest import NOW, UnitOfWork
from tests.integration.test_apply import apply, open_payment

S = PaymentStatus
EVENT = st.tuples(st.sampled_from(list(S)), st.booleans())  # (status, amount is right)


def expected(events: list[tuple[S, bool]]) -> tuple[S, bool, bool]:
    """The rules, written out plainly: (final status, ever paid, flagged for review)."""
    state, ever_paid, review = S.PENDING, False, False
    for new, amount_ok in events:
        if new is S.PAID and not amount_ok:
            review = True
            state = S.PROCESSING if state is S.PENDING else state
        elif new is not state and can_move(state, new):
            review = review or (new is S.PAID and state in LATE_PAID_FROM)
            ever_paid = ever_paid or new is S.PAID
            state = new
        elif state is S.PAID and new in (S.FAILED, S.CANCELLED, S.EXPIRED):
            review = True
    return state, ever_paid, review


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[S, bool]]:
    base = draw(st.lists(EVENT, min_size=1, max_size=8))
    repeats = draw(st.lists(st.sampled_from(base), max_size=4))
    return draw(st.permutations(base + repeats))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories())
async def test_any_history_ends_where_the_rules_say(
    uow: UnitOfWork,
    shop: Shop,
    customer_id: int,
    sessions: Sessions,
    events: list[tuple[S, bool]],
) -> None:
    async with transaction(sessions) as session:
        await session.execute(update(Product).values(stock=None))
    code, payment_id = await open_payment(uow, shop, customer_id)
    seen: list[S] = []
    for status, amount_ok in events:
        await apply(uow, shop, payment_id, status, amount=50000 if amount_ok else 1)
        async with transaction(sessions) as session:
            seen.append(
                S(await session.scalar(select(Payment.status).where(Payment.id == payment_id)))
            )
    for before, after in itertools.pairwise(seen):
        if before.is_final:
            assert after.is_final, f"moved back from {before} to {after}"
    final, ever_paid, review = expected(events)
    async with transaction(sessions) as session:
        row = await session.get(Payment, payment_id)
        order = await session.scalar(select(Order.status).where(Order.code == code))
        keys = list(
            await session.scalars(
                select(Outbox.dedupe_key).where(Outbox.dedupe_key.like(f"payment:{payment_id}:%"))
            )
        )
    assert row is not None and S(row.status) is final
    assert (order == "paid") is ever_paid
    assert row.needs_review is review
    assert max(Counter(keys).values(), default=0) <= 1
    assert keys.count(f"payment:{payment_id}:paid:customer") == int(ever_paid)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories(), cuts=st.lists(st.integers(1, 4), min_size=1, max_size=12))
async def test_the_batched_path_ends_where_the_one_at_a_time_path_does(
    uow: UnitOfWork,
    shop: Shop,
    customer_id: int,
    sessions: Sessions,
    events: list[tuple[S, bool]],
    cuts: list[int],
) -> None:
    """Callbacks applied in batches of any size obey exactly the same rules."""
    async with transaction(sessions) as session:
        await session.execute(update(Product).values(stock=None))
    code, payment_id = await open_payment(uow, shop, customer_id)
    items = [
        BatchItem(
            "sandbox",
            PaymentResult(
                f"{code}01", None, status, amount=50000 if ok else 1, raw_status=str(status)
            ),
            dedupe_key=f"k{i % 3}:{status}:{ok}:{payment_id}",
        )
        for i, (status, ok) in enumerate(events)
    ]
    position = 0
    for size in itertools.cycle(cuts):
        if position >= len(items):
            break
        async with uow() as store:
            await apply_batch(store, shop, items[position : position + size], now=NOW)
        position += size
    final, ever_paid, review = expected(events)
    async with transaction(sessions) as session:
        row = await session.get(Payment, payment_id)
        keys = list(await session.scalars(select(Outbox.dedupe_key)))
    assert row is not None and S(row.status) is final and row.needs_review is review
    assert keys.count(f"payment:{payment_id}:paid:customer") == int(ever_paid)
