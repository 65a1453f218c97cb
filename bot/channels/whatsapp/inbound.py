"""The webhook's signature, and its payloads as messages and statuses.

Meta signs the raw body with the app secret (`X-Hub-Signature-256: sha256=<hex>`); nothing is
parsed before that check. After it, nothing is trusted to have a shape: every entry, change,
message and status is looped over, every identity field is optional (`wa_id`/`from` appear
only when the user shares the number; the business-scoped `user_id` and the username may
be the only ones), and what cannot be read is skipped, never raised.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final

from bot.channels import Channel
from bot.conversation.replies import Inbound

CHANNEL: Final = Channel.WHATSAPP
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
# WhatsApp gives no client language: the country code of the number is the best hint.
LANGUAGE_BY_PREFIX: Final = (("62", "id"), ("255", "sw"), ("254", "sw"), ("256", "sw"))
_INT_BOUND: Final = 10**10  # unix seconds up to the year 2286; error codes fit too
IGNORED_TYPES: Final = frozenset({"reaction", "system", "ephemeral", "request_welcome"})


class Signature(Enum):
    GOOD = "good"
    MISSING = "missing"
    WRONG = "wrong"


def check_signature(app_secret: str, header: str | None, raw: bytes) -> Signature:
    if not header:
        return Signature.MISSING
    expected = "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    given = header.strip().encode("utf-8", "replace")
    return Signature.GOOD if hmac.compare_digest(given, expected.encode()) else Signature.WRONG


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound message, as far as it could be read."""

    phone_number_id: str
    message_id: str
    address: str  # the phone digits when given, else the business-scoped user id
    wa_id: str
    name: str
    type: str
    text: str = ""
    choice_id: str = ""
    phone: str = ""  # E.164, from a shared contact of the sender themself
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """What became of a message we sent."""

    phone_number_id: str
    wamid: str
    status: str
    address: str
    errors: tuple[tuple[int, str], ...] = field(default=())
    tracker: str = ""  # our biz_opaque_callback_data, echoed: set on outbox sends


def read_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def parse(data: Any) -> tuple[list[Message], list[Status]]:
    messages: list[Message] = []
    statuses: list[Status] = []
    for value in _values(data):
        number = _str(_dict(value.get("metadata")).get("phone_number_id"))
        contacts = [_dict(c) for c in _list(value.get("contacts"))]
        for raw in _list(value.get("messages")):
            message = _message(number, _dict(raw), contacts)
            if message is not None:
                messages.append(message)
        for raw in _list(value.get("statuses")):
            status = _status(number, _dict(raw))
            if status is not None:
                statuses.append(status)
    return messages, statuses


def _values(data: Any) -> Iterator[dict[str, Any]]:
    for entry in _list(_dict(data).get("entry")):
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            if change.get("field", "messages") == "messages":
                yield _dict(change.get("value"))


def _message(number: str, raw: dict[str, Any], contacts: list[dict[str, Any]]) -> Message | None:
    message_id, kind = _str(raw.get("id")), _str(raw.get("type"))
    wa_id, user_id = _digits(_str(raw.get("from"))), _str(raw.get("from_user_id"))
    contact = _contact(contacts, wa_id, user_id)
    wa_id = wa_id or _digits(_str(contact.get("wa_id")))
    user_id = user_id or _str(contact.get("user_id"))
    address = wa_id or user_id
    if not message_id or not address or kind in IGNORED_TYPES:
        return None
    name = _str(_dict(contact.get("profile")).get("name"))[:100]
    base = Message(number, message_id, address, wa_id, name, kind, timestamp=_int(raw))
    return _read(base, raw)


def _read(base: Message, raw: dict[str, Any]) -> Message:
    kind = base.type
    if kind == "text":
        return replace(base, text=_str(_dict(raw.get("text")).get("body")))
    if kind == "interactive":
        interactive = _dict(raw.get("interactive"))
        reply = _dict(interactive.get(_str(interactive.get("type"))))
        if _str(interactive.get("type")) in ("button_reply", "list_reply"):
            return replace(base, choice_id=_str(reply.get("id")), text=_str(reply.get("title")))
    if kind == "button":  # a template's quick-reply button
        button = _dict(raw.get("button"))
        return replace(base, choice_id=_str(button.get("payload")), text=_str(button.get("text")))
    if kind == "contacts":
        return replace(base, phone=_own_phone(base, raw))
    return base


def _own_phone(base: Message, raw: dict[str, Any]) -> str:
    """The sender's own number: from our request_contact_info prompt, or their own card."""
    for card in _list(raw.get("contacts")):
        card = _dict(card)
        for phone in _list(card.get("phones")):
            phone = _dict(phone)
            wa_id = _digits(_str(phone.get("wa_id")))
            asked = _str(card.get("origin")) == "contact_request"
            if wa_id and (asked or wa_id == base.wa_id):
                return f"+{wa_id}"
            if asked and _digits(_str(phone.get("phone"))):
                return f"+{_digits(_str(phone.get('phone')))}"
    return ""


def _contact(contacts: list[dict[str, Any]], wa_id: str, user_id: str) -> dict[str, Any]:
    for contact in contacts:
        if (wa_id and _digits(_str(contact.get("wa_id"))) == wa_id) or (
            user_id and _str(contact.get("user_id")) == user_id
        ):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _status(number: str, raw: dict[str, Any]) -> Status | None:
    wamid, status = _str(raw.get("id")), _str(raw.get("status"))
    if not wamid or not status:
        return None
    address = _digits(_str(raw.get("recipient_id"))) or _str(raw.get("recipient_user_id"))
    errors = tuple(
        (_int(_dict(e), "code"), _str(_dict(e).get("title") or _dict(e).get("message"))[:200])
        for e in _list(raw.get("errors"))
    )
    return Status(
        number, wamid, status, address, errors, _str(raw.get("biz_opaque_callback_data"))
    )


def to_inbound(message: Message) -> Inbound:
    """Text, taps (reply buttons, list rows, template buttons), the sender's shared number;
    anything else (images, stickers, locations, unsupported) as empty text, which the
    conversation answers with what it can do."""
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": message.address,
        "name": message.name,
        "language_hint": language_hint(message.wa_id),
        "event_id": message.message_id,
        "extra": {"phone_given": "yes"} if message.wa_id else {},
    }
    if message.choice_id:
        return Inbound(kind="tap", choice_id=message.choice_id, **base)
    if message.phone:
        return Inbound(kind="phone", phone=message.phone, **base)
    if message.type == "text" and _is_command(message.text):
        name, _, args = message.text.strip()[1:].partition(" ")
        return Inbound(kind="command", command=name.lower(), text=args.strip(), **base)
    if message.type in ("text", "button"):
        return Inbound(kind="text", text=message.text, **base)
    return Inbound(kind="text", text="", **base)


def _is_command(text: str) -> bool:
    """`/orders paid`: the merchant desk's commands, typed as on Telegram."""
    text = text.strip()
    return len(text) > 1 and text[0] == "/" and text[1].isascii() and text[1].isalnum()


def language_hint(wa_id: str) -> str:
    for prefix, language in LANGUAGE_BY_PREFIX:
        if wa_id.startswith(prefix):
            return language
    return ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _digits(text: str) -> str:
    digits = "".join(c for c in text if "0" <= c <= "9")
    return digits if 6 <= len(digits) <= 20 else ""


def _int(raw: dict[str, Any], key: str = "timestamp") -> int:
    value = raw.get(key)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if 0 <= value < _INT_BOUND else 0
    text = _str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 11 else 0
