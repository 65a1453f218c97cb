"""What a channel hands the outbox worker (bot/notify/worker.py): a Sender, and the two
exceptions that tell the worker what became of a send.

Apart from the worker so that channels and bot/runtime.py can name the contract without
importing the worker itself.
"""

from __future__ import annotations

from typing import Protocol

from bot.conversation.replies import Reply
from bot.notify.pace import Pace


class RetryLater(Exception):
    """The channel asked us to wait (HTTP 429): send again after `after` seconds.

    Not counted as a failed attempt: it says nothing about the message.
    """

    def __init__(self, after: float, reason: str) -> None:
        super().__init__(reason)
        self.after = max(after, 0.0)
        self.reason = reason


class Undeliverable(Exception):
    """The channel will never take this message (the bot is blocked, the chat is gone)."""


class Sender(Protocol):
    """Sends one rendered message to one address of its channel.

    Raise RetryLater or Undeliverable as they apply; any other exception is read as
    transient (network, 5xx) and retried with back-off.
    """

    @property
    def channel(self) -> str: ...

    @property
    def pace(self) -> Pace: ...

    async def send(self, address: str, reply: Reply, *, kind: str) -> None:
        """`kind` is the outbox row's (payment_paid, order_cancelled, ...), for the channels
        that show or log it; most ignore it."""
