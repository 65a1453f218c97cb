"""The terminal as a chat channel, for `checkout-bot demo`: print replies, read typed lines.

Buttons are numbered (typing the number taps them), a QR code is drawn with segno's terminal
output, a link is printed to open. Outbox notifications for the console customer and for the
merchant are read straight from the outbox table and printed: the demo has no other sender.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Final, Literal

import segno
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.replies import Choice, Inbound, Reply
from bot.notify.worker import render_row
from bot.runtime import Runtime
from payments.ports import Recipient
from storage.db import transaction
from storage.models import Outbox, utcnow

CHANNEL: Final = "console"
Kind = Literal["text", "tap", "phone", "command"]
BOLD, PLAIN = "\033[1m", "\033[0m"
_BOLD_MARK: Final = re.compile(r"\*([^*\n]+)\*")


def render(reply: Reply, *, color: bool = False) -> str:
    """One reply as terminal text; the caller keeps `reply.choices` to read numbers against."""
    text = _BOLD_MARK.sub(rf"{BOLD}\1{PLAIN}" if color else r"\1", reply.text)
    parts = ["(updated) " + text if reply.edit else text]
    if reply.image is not None:
        parts.append(_image(reply))
    if reply.link is not None:
        parts.append(f"  -> {reply.link.label}: open {reply.link.url}")
    parts += [f"  [{n}] {_label(c)}" for n, c in enumerate(reply.choices, start=1)]
    if reply.request_phone:
        parts.append("  (type your phone number)")
    if reply.document is not None:
        parts.append(f"  [file: {reply.document[0]}, {len(reply.document[1])} bytes]")
    return "\n".join(parts)


def _label(choice: Choice) -> str:
    return f"{choice.label} ({choice.description})" if choice.description else choice.label


def _image(reply: Reply) -> str:
    image = reply.image
    assert image is not None
    if image.qr_payload:
        out = io.StringIO()
        segno.make_qr(image.qr_payload, error="m").terminal(out=out, compact=True, border=2)
        return out.getvalue().rstrip("\n")
    if image.url:
        return f"  [photo: {image.url}]"
    return f"  [image: {image.filename}]"


@dataclass
class ConsoleChat:
    """One terminal customer: turns typed lines into inbound events, numbers into taps."""

    chat_id: str = "demo"
    name: str = ""
    language: str = ""
    choices: tuple[Choice, ...] = ()
    counter: int = 0

    def remember(self, replies: list[Reply]) -> None:
        """The last message with buttons is the one numbers refer to."""
        for reply in replies:
            if reply.choices:
                self.choices = reply.choices

    def inbound(self, line: str) -> Inbound | None:
        text = line.strip()
        if not text:
            return None
        self.counter += 1
        if text.isascii() and text.isdigit() and 1 <= int(text) <= len(self.choices):
            return self._event("tap", choice_id=self.choices[int(text) - 1].id)
        if text.startswith("/") and len(text) > 1:
            command, _, args = text[1:].partition(" ")
            return self._event("command", command=command, text=args)
        return self._event("text", text=text)

    def _event(
        self, kind: Kind, *, text: str = "", choice_id: str = "", command: str = ""
    ) -> Inbound:
        return Inbound(
            channel=CHANNEL,
            chat_id=self.chat_id,
            kind=kind,
            text=text,
            choice_id=choice_id,
            command=command,
            name=self.name,
            language_hint=self.language,
            event_id=f"console-{self.counter}",
        )


@dataclass(frozen=True, slots=True)
class Notice:
    to: str  # "customer" | "merchant"
    kind: str
    reply: Reply


@dataclass
class ConsoleOutbox:
    """Reads and marks sent the outbox rows meant for this terminal's customer and merchants."""

    runtime: Runtime
    customer: Recipient
    merchants: tuple[Recipient, ...] = ()
    seen_kinds: list[str] = field(default_factory=list)

    async def drain(self) -> list[Notice]:
        sessions = self.runtime.sessions
        assert sessions is not None
        notices = []
        async with transaction(sessions) as session:
            rows = await session.scalars(
                select(Outbox).where(Outbox.sent_at.is_(None)).order_by(Outbox.id)
            )
            for row in list(rows):
                notice = await self._render(session, row)
                if notice is not None and await self._claim(session, row.id):
                    notices.append(notice)
                    self.seen_kinds.append(f"{notice.to}:{notice.kind}")
        return notices

    async def _render(self, session: AsyncSession, row: Outbox) -> Notice | None:
        to = Recipient(row.channel, row.address)
        who = "customer" if to == self.customer else "merchant" if to in self.merchants else ""
        if not who:
            return None
        shop = self.runtime.config.shop
        to_merchant = who == "merchant"
        reply = await render_row(session, shop, row.kind, row.payload, to_merchant=to_merchant)
        return Notice(who, row.kind, reply)

    async def _claim(self, session: AsyncSession, row_id: int) -> bool:
        result = await session.execute(
            update(Outbox)
            .where(Outbox.id == row_id, Outbox.sent_at.is_(None))
            .values(sent_at=utcnow(), attempts=Outbox.attempts + 1)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
