"""One outbox row as its recipient reads it: the notice (bot/notify/notices.py) in the
recipient's language, with what the row's payload does not carry loaded from the database
(bot/notify/notice_data.py). The outbox worker renders every row through it before a send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.replies import Reply
from bot.notify.notice_data import load_notice_extra
from bot.notify.notices import as_repeat, render_notice

if TYPE_CHECKING:
    from bot.config import Shop


async def render_row(
    session: AsyncSession,
    shop: Shop,
    kind: str,
    payload: Mapping[str, Any],
    *,
    to_merchant: bool,
    repeat: bool = False,
) -> Reply:
    """One outbox row as its recipient reads it: a customer in the language the row was
    written in, a merchant in the shop's first language. `repeat`: it may have been shown
    already, and says so."""
    language = str(payload.get("language") or shop.languages[0])
    if to_merchant:
        language = shop.languages[0]
    extra = await load_notice_extra(session, kind, payload, language=language)
    reply = render_notice(
        kind,
        payload,
        language=language,
        tz=shop.timezone,
        country=shop.country,
        extra=extra,
    )
    return as_repeat(reply, language) if repeat else reply
