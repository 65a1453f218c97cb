"""'Sudah bayar' when the gateway's callback was lost: the chat asks the gateway itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import Outbox, Payment
from tests.conftest import free_port, make_config, start_app
from tests.integration.test_dispatch import Person, rows, to_summary


async def test_saying_i_paid_asks_the_gateway_itself(aiohttp_server: Any, db_url: str) -> None:
    running = await start_app(aiohttp_server, make_config(db_url, free_port(), drop_share=1.0))
    siti = Person(running.runtime)
    await to_summary(siti)
    await siti.tap("pay:sandbox:va:bca")
    [(reference,)] = await rows(running.runtime, select(Payment.reference))
    await running.runtime.gateways["sandbox"].settle(reference, "pay")  # type: ignore[attr-defined]
    assert running.runtime.sandbox is not None
    await running.runtime.sandbox.flush()  # the callback is "lost" (drop_share=1.0)
    assert await rows(running.runtime, select(Payment.status)) == [("pending",)]

    [answer] = await siti.text("sudah bayar")
    assert "diterima ✓" in answer.text
    assert await rows(running.runtime, select(Payment.status)) == [("paid",)]
    kinds = await rows(running.runtime, select(Outbox.kind).order_by(Outbox.kind))
    assert ("payment_paid",) in kinds
