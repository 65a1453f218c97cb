"""What WhatsApp needs kept in the database, shared by every instance: the message ids
already handled (Meta retries a webhook for days, maybe to another instance), each
customer's last inbound time (the 24-hour window), and the messages we sent, whose status
webhooks move only forward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.whatsapp.inbound import CHANNEL, Message, Status
from payments.ports import Recipient
from storage.db import Sessions, one_statement, transaction
from storage.models import Customer, WhatsAppContact, WhatsAppMessage, WhatsAppSeen
from storage.repo import OutboxWriter, insert_ignoring_duplicates

_STATUS: Final = select(WhatsAppMessage.status).where(WhatsAppMessage.wamid == bindparam("wamid"))
TRACKER: Final = "outbox:"  # biz_opaque_callback_data of the outbox's sends
# Statuses in the order they happen; `failed` may come after any of them.
RANK: Final = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 4}


def _insert(session: AsyncSession, table: Any) -> Any:
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(table)


async def take(sessions: Sessions, message: Message, *, language: str, now: datetime) -> bool:
    """False for a message id handled before. Else, in one transaction: the id is kept, the
    window opened, and the customer given the phone number WhatsApp told us, so that the
    checkout does not ask for it."""
    async with transaction(sessions) as session:
        seen = insert_ignoring_duplicates(session, WhatsAppSeen, "message_id")
        first = await session.execute(seen.values(message_id=message.message_id, seen_at=now))
        if first.rowcount != 1:  # type: ignore[attr-defined]
            return False
        at = _sent_at(message, now)
        touch = _insert(session, WhatsAppContact).values(
            address=message.address, last_inbound_at=at
        )
        touch = touch.on_conflict_do_update(
            index_elements=["address"],
            set_={"last_inbound_at": at},
            where=WhatsAppContact.last_inbound_at < at,
        )
        await session.execute(touch)
        if message.wa_id:
            await _give_phone(session, message, language, now)
    return True


def _sent_at(message: Message, now: datetime) -> datetime:
    """When the customer wrote (the window counts from then), never later than now."""
    if message.timestamp <= 0:
        return now
    at = datetime.fromtimestamp(message.timestamp, now.tzinfo)
    return min(at, now)


async def _give_phone(
    session: AsyncSession, message: Message, language: str, now: datetime
) -> None:
    phone = f"+{message.wa_id}"
    new = _insert(session, Customer).on_conflict_do_nothing(
        index_elements=["channel", "channel_user_id"]
    )
    await session.execute(
        new.values(
            channel=CHANNEL,
            channel_user_id=message.address,
            phone=phone,
            language=language,
            created_at=now,
        )
    )
    await session.execute(
        update(Customer)
        .where(
            Customer.channel == CHANNEL,
            Customer.channel_user_id == message.address,
            (Customer.phone.is_(None)) | (Customer.phone == ""),
        )
        .values(phone=phone)
    )


async def last_inbound(sessions: Sessions, address: str) -> datetime | None:
    async with transaction(sessions) as session:
        found: datetime | None = await session.scalar(
            select(WhatsAppContact.last_inbound_at).where(WhatsAppContact.address == address)
        )
        return found


async def record_sent(
    sessions: Sessions,
    wamid: str,
    address: str,
    kind: str,
    *,
    template: bool,
    facts: Sequence[str] = (),
    now: datetime,
) -> tuple[str, str]:
    """Keep what we sent under its wamid; returns its (status, error) as known now.

    Meta's status webhooks may arrive before this (move_status then kept the status on a
    row without a kind): the row gets its kind here, and the caller sees a `failed`."""
    if not wamid:
        return "accepted", ""
    values = {
        "address": address,
        "kind": kind,
        "template": template,
        "params": json.dumps(list(facts)) if facts else None,
    }
    async with transaction(sessions) as session:
        row = _insert(session, WhatsAppMessage).values(
            wamid=wamid, status="accepted", updated_at=now, **values
        )
        row = row.on_conflict_do_update(
            index_elements=["wamid"], set_=values, where=WhatsAppMessage.kind == ""
        )
        await session.execute(row)
        found = (
            await session.execute(
                select(WhatsAppMessage.status, WhatsAppMessage.error).where(
                    WhatsAppMessage.wamid == wamid
                )
            )
        ).one()
        return found.status, found.error or ""


async def move_status(
    sessions: Sessions, status: Status, error: str, now: datetime, reader: Sessions | None = None
) -> WhatsAppMessage | None:
    """Move a sent message's status forward; the row when it moved, else None (a duplicate,
    a status older than the one we have, or a message not recorded yet, whose `failed` is
    kept for record_sent).

    Most statuses are of chat answers, which are not recorded: a read (on `reader`) skips
    them without taking SQLite's one writer. The outbox's sends carry TRACKER, which Meta
    echoes, so their statuses are kept even when they come before record_sent."""
    rank = RANK.get(status.status)
    if rank is None:
        return None
    async with one_statement(reader or sessions) as connection:
        known = (await connection.execute(_STATUS, {"wamid": status.wamid})).scalar()
    ours = status.tracker.startswith(TRACKER) or status.status == "failed"
    if (known is None and not ours) or RANK.get(known or "", -1) >= rank:
        return None
    older = [name for name, r in RANK.items() if r < rank]
    forward = (
        update(WhatsAppMessage)
        .where(WhatsAppMessage.wamid == status.wamid, WhatsAppMessage.status.in_(older))
        .values(status=status.status, error=error or None, updated_at=now)
    )
    async with transaction(sessions) as session:
        if (await session.execute(forward)).rowcount != 1:  # type: ignore[attr-defined]
            early = insert_ignoring_duplicates(session, WhatsAppMessage, "wamid").values(
                wamid=status.wamid,
                address=status.address,
                kind="",
                template=False,
                status=status.status,
                error=error or None,
                updated_at=now,
            )
            if (await session.execute(early)).rowcount == 1:  # type: ignore[attr-defined]
                return None
            # record_sent committed its row meanwhile (PostgreSQL waited for it): once more
            if (await session.execute(forward)).rowcount != 1:  # type: ignore[attr-defined]
                return None
        row: WhatsAppMessage | None = await session.get(WhatsAppMessage, status.wamid)
        return row if row is not None and row.kind else None


async def tell_merchants_once_a_day(
    sessions: Sessions,
    merchants: Sequence[Recipient],
    topic: str,
    text: str,
    now: datetime,
) -> None:
    """One outbox notice per merchant, per topic, per (UTC) day: the dedupe key says so."""
    day = now.date().isoformat()
    async with transaction(sessions) as session:
        writer = OutboxWriter(session)
        for to in merchants:
            key = f"whatsapp:{topic}:{day}:{to.channel}:{to.address}"[:160]
            await writer.enqueue(to, "whatsapp_undelivered", {"text": text}, key)


def window_open(last: datetime | None, now: datetime, margin: timedelta) -> bool:
    return last is not None and now - last < timedelta(hours=24) - margin
