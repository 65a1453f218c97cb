"""Channel-neutral messages in and out; each channel renders them within its own limits.

The conversation engine (bot/conversation/flow.py) only ever produces `Reply` values and only
ever reads `Inbound` values, so Telegram, WhatsApp and the terminal demo share one conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Choice:
    """A button or menu entry. `id` is opaque ASCII of at most 64 bytes (Telegram's bound)."""

    id: str
    label: str  # <= 20 characters fits every channel
    description: str | None = None

    def __post_init__(self) -> None:
        if not self.id or len(self.id.encode()) > 64 or not self.id.isascii():
            raise ValueError(f"choice id must be 1-64 ASCII bytes: {self.id!r}")


@dataclass(frozen=True, slots=True)
class LinkButton:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Image:
    """A picture to send: PNG bytes (a QRIS code) or a public URL (a product photo)."""

    data: bytes | None = None
    url: str | None = None
    filename: str = "image.png"
    qr_payload: str | None = None  # the text a QR image encodes, for channels that draw it


@dataclass(frozen=True, slots=True)
class Reply:
    """One outgoing message. `text` may use *bold* and `mono` marks; renderers map them."""

    text: str
    choices: tuple[Choice, ...] = ()
    link: LinkButton | None = None
    image: Image | None = None
    request_phone: bool = False
    document: tuple[str, bytes] | None = None  # (filename, content), e.g. a CSV export
    edit: bool = False  # replace the message the tapped button sits on, where the channel can
    # A notice's order code, amount and method as text: what a channel that must send a
    # pre-approved template instead (WhatsApp, outside its 24-hour window) fills it with.
    facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person did in a chat, as every channel reports it."""

    channel: str  # a name from bot/channels/__init__.py Channel
    chat_id: str  # where to answer, and the conversation's key
    kind: Literal["text", "tap", "phone", "command"]
    text: str = ""  # the text, or the command's arguments
    choice_id: str = ""  # for taps
    command: str = ""  # "start", "cancel", "language", ... without the slash
    phone: str = ""  # E.164 when kind == "phone"
    name: str = ""  # the sender's display name, where the channel gives it
    language_hint: str = ""  # the chat client's language code, e.g. "id", "en-US"
    event_id: str = ""  # the channel's id for de-duplication (Telegram update_id)
    # phone_given="yes": the stored phone is the account's own (WhatsApp), not asked again
    extra: dict[str, str] = field(default_factory=dict)
