"""The outbox rows meant for the demo's terminal, delivered by the outbox worker like any
channel's (bot/notify/worker.py): the terminal's customer and the shop's merchants.

In the demo nothing else sends (Telegram is off, bot/demo.py), so the terminal also takes the
merchants' channels: their notices show on the terminal as "to the merchant". `drain` has the
worker send what is due now and returns what arrived, so a notice shows right after the step
that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.conversation.replies import Reply
from bot.notify.pace import NO_LIMIT, Pace
from bot.notify.sender import Undeliverable
from bot.runtime import Runtime
from payments.ports import Recipient


@dataclass(frozen=True, slots=True)
class Notice:
    to: str  # "customer" | "merchant"
    kind: str
    reply: Reply


@dataclass
class TerminalSender:
    """One channel's rows, for the terminal: they wait in `inbox` until the demo prints them."""

    channel: str
    outbox: ConsoleOutbox
    pace: Pace = NO_LIMIT

    async def send(self, address: str, reply: Reply, *, kind: str = "") -> None:
        to = Recipient(self.channel, address)
        outbox = self.outbox
        who = "customer" if to == outbox.customer else "merchant" if to in outbox.merchants else ""
        if not who:
            raise Undeliverable(f"{to} is not at this terminal")
        outbox.inbox.append(Notice(who, kind, reply))


@dataclass
class ConsoleOutbox:
    """The terminal's share of the outbox: registers a sender per channel it reads."""

    runtime: Runtime
    customer: Recipient
    merchants: tuple[Recipient, ...] = ()
    seen_kinds: list[str] = field(default_factory=list)
    inbox: list[Notice] = field(default_factory=list)
    _attached: bool = False

    async def drain(self) -> list[Notice]:
        outbox = self.runtime.outbox
        assert outbox is not None, "the outbox worker is installed by create_app"
        if not self._attached:
            for channel in sorted({self.customer.channel, *(m.channel for m in self.merchants)}):
                outbox.register(TerminalSender(channel, self))
            self._attached = True
        await outbox.flush()
        notices, self.inbox = self.inbox, []
        self.seen_kinds += [f"{notice.to}:{notice.kind}" for notice in notices]
        return notices
