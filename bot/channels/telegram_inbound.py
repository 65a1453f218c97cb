"""Telegram updates as `Inbound` events: text, /commands with their arguments, button taps,
the sender's own shared contact, and the client's language."""

from __future__ import annotations

from typing import Any, Final

from telegram import Update

from bot.channels.telegram_render import Tapped
from bot.replies import Inbound

CHANNEL: Final = "telegram"


def to_inbound(update: Update, bot_username: str = "") -> Inbound | None:
    """None for what we do not answer: edits, channel posts, other bots' commands."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return None
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": str(chat.id),
        "name": user.full_name if user else "",
        "language_hint": (user.language_code or "") if user else "",
        "event_id": str(update.update_id),
    }
    if update.callback_query is not None:
        data = update.callback_query.data
        return Inbound(kind="tap", choice_id=data, **base) if data else None
    message = update.message
    if message is None:
        return None
    if message.contact is not None:
        own = user is not None and message.contact.user_id == user.id
        if not own:  # someone else's card: as if nothing readable was typed
            return Inbound(kind="text", text="", **base)
        return Inbound(kind="phone", phone=e164(message.contact.phone_number), **base)
    text = message.text or message.caption or ""
    if _for_another_bot(text, bot_username):
        return None
    command = _command(text)
    if command is not None:
        name, args = command
        return Inbound(kind="command", command=name, text=args, **base)
    return Inbound(kind="text", text=text, **base)


def _command(text: str) -> tuple[str, str] | None:
    """`/orders@ShopBot paid` -> ("orders", "paid")."""
    if not text.startswith("/") or len(text) < 2 or not text[1].isalnum():
        return None
    head, _, args = text[1:].partition(" ")
    return head.partition("@")[0].lower(), args.strip()


def _for_another_bot(text: str, bot_username: str) -> bool:
    """`/start@another_bot` in a group we share with it."""
    head = text.partition(" ")[0]
    if not head.startswith("/") or "@" not in head or not bot_username:
        return False
    return head.partition("@")[2].lower() != bot_username.lower()


def e164(number: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    return f"+{digits}" if digits else ""


def tapped_message(update: Update) -> Tapped | None:
    query = update.callback_query
    message = query.message if query is not None else None
    if message is None or not message.is_accessible:
        return None
    has_text = getattr(message, "text", None) is not None
    return Tapped(message.chat.id, message.message_id, has_text)
