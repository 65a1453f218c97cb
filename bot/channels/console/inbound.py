"""Typed lines as inbound events, for `checkout-bot demo`: a number taps the button it shows
(bot/channels/console/render.py numbers them), a /word is a command, anything else is text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.channels import Channel
from bot.conversation.replies import Choice, Inbound, Reply

CHANNEL: Final = Channel.CONSOLE
Kind = Literal["text", "tap", "phone", "command"]


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
