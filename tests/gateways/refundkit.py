"""What the gateways' refund tests share (tests/gateways/<name>/test_<name>_refunds.py): a
paid order through a gateway's harness, a refund through the use case, and what the
customer was told."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from payments.refunds import refund_order
from storage.models import Order, Outbox, Payment, Refund
from tests.gateways.harness import Harness


async def paid(h: Harness, method: str | None = None) -> tuple[str, Payment]:
    """An order paid at the gateway's fake and confirmed here by a status check."""
    payment = await h.start(method=method)
    h.pay(payment.reference)
    assert (await h.running.runtime.check_status(payment.id)).changed
    [(code,)] = await h.rows(select(Order.code))
    return code, payment


async def refund(h: Harness, code: str, amount: int | None) -> Refund:
    runtime = h.running.runtime
    refund_id = await refund_order(
        runtime.uow, runtime.gateways, code, amount, now=runtime.clock()
    )
    [(row,)] = await h.rows(select(Refund).where(Refund.id == refund_id))
    return row


async def told(h: Harness) -> list[Any]:
    """The refund notices written for the customer, in order."""
    return [p for (p,) in await h.rows(select(Outbox.payload).where(Outbox.kind == "refund_done"))]
