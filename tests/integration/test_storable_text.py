"""Outside text reaches both databases without failing a statement (storage/text.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from storage.db import Sessions, transaction
from storage.models import Outbox, PaymentEvent
from storage.text import storable, storable_json
from tests.conftest import UnitOfWork

HOSTILE = "a\x00b\udfffc\ud83d"


def test_storable_replaces_what_no_database_takes_and_keeps_the_rest() -> None:
    assert storable(HOSTILE) == "a\ufffdb\ufffdc\ufffd"
    assert storable("kopi ☕ 😀") == "kopi ☕ 😀"
    assert storable("x" * 100, 64) == "x" * 64
    assert storable_json({"k": "😀"}) == '{"k": "\\ud83d\\ude00"}'  # a pair stays a pair
    assert "\\udfff" not in storable_json({"k\udfff": [HOSTILE]})


async def test_hostile_text_and_json_are_stored_on_every_backend(
    uow: UnitOfWork, sessions: Sessions
) -> None:
    now = datetime.now(UTC)
    event = {"payment_id": None, "gateway": "ipaymu", "source": "callback", "reference": None}
    event |= {"raw_status": HOSTILE * 30, "status": None, "outcome": "rejected"}
    event |= {"verified": False, "body": HOSTILE, "dedupe_key": None, "created_at": now}
    async with uow() as store:
        await store.payments.add_events([event])
    async with transaction(sessions) as session:
        session.add(
            Outbox(
                channel="telegram", address="1", kind="x", payload={"t": HOSTILE}, dedupe_key="k"
            )
        )
    async with transaction(sessions) as session:
        raw, body = (
            await session.execute(select(PaymentEvent.raw_status, PaymentEvent.body))
        ).one()
        payload = await session.scalar(select(Outbox.payload))
    assert len(raw) == 64 and body == storable(HOSTILE)
    assert payload == {"t": storable(HOSTILE)}
