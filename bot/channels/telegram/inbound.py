"""Telegram updates as `Inbound` events: text, /commands with their arguments, button taps,
the sender's own shared contact, and the client's language.

The webhook is open to whoever learns its URL and secret, and PTB's `de_json` checks no types:
a "text" may arrive as a list, an id as a 5,000-digit number. So nothing here trusts a field's
type; what cannot be read is ignored rather than raised in PTB's task, where the customer
would get no answer at all.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from telegram import Bot, Update

from bot.channels import Channel
from bot.channels.telegram.render import Tapped
from bot.conversation.replies import Inbound

log = logging.getLogger(__name__)
CHANNEL: Final = Channel.TELEGRAM
# Telegram's ids fit a signed 64-bit integer (its docs: "at most 52 significant bits").
_ID_BOUND: Final = 2**63


def read_update(body: bytes, bot: Bot | None) -> Update | None:
    """The webhook's body as an Update, or None (one warning, no traceback) when it is not one.

    `de_json` is PTB's parser: it raises whatever the input provokes (AttributeError,
    TypeError, OverflowError, RecursionError...), hence the broad except.
    """
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            return Update.de_json(data, bot)
        problem = f"JSON {type(data).__name__}, not an object"
    except RecursionError:
        problem = "JSON nested too deeply"
    except Exception as exc:  # de_json: see the docstring
        problem = type(exc).__name__
    log.warning("telegram: webhook body is not an update (%s, %d bytes)", problem, len(body))
    return None


def to_inbound(update: Update, bot_username: str = "") -> Inbound | None:
    """None for what we do not answer: edits, channel posts, other bots' commands."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or _id(chat.id) is None:
        return None
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": str(chat.id),
        "name": _name(user.first_name, user.last_name) if user else "",
        "language_hint": _str(user.language_code) if user else "",
        "event_id": str(_id(update.update_id) or ""),
    }
    if update.callback_query is not None:
        data = _str(update.callback_query.data)
        return Inbound(kind="tap", choice_id=data, **base) if data else None
    message = update.message
    if message is None:
        return None
    if message.contact is not None:
        own = user is not None and _id(user.id) is not None and message.contact.user_id == user.id
        if not own:  # someone else's card: as if nothing readable was typed
            return Inbound(kind="text", text="", **base)
        return Inbound(kind="phone", phone=e164(_str(message.contact.phone_number)), **base)
    text = _str(message.text) or _str(message.caption)
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
    digits = "".join(c for c in number if c in "0123456789")
    return f"+{digits}" if digits else ""


def tapped_message(update: Update) -> Tapped | None:
    query = update.callback_query
    message = query.message if query is not None else None
    if message is None or not message.is_accessible:
        return None
    chat_id, message_id = _id(message.chat.id), _id(message.message_id)
    if chat_id is None or message_id is None:  # not one we could edit: a new message instead
        return None
    has_text = getattr(message, "text", None) is not None
    return Tapped(chat_id, message_id, has_text)


def _id(value: object) -> int | None:
    """An id as Telegram makes them, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not -_ID_BOUND < value < _ID_BOUND:
        return None
    return value


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _name(first: object, last: object) -> str:
    return " ".join(part for part in (_str(first), _str(last)) if part)
