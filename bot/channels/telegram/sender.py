"""The outbox worker's way into Telegram (bot/notify/worker.py calls `send`): the same bot and
renderer as the chat, with Telegram's errors read as the worker's RetryLater / Undeliverable.
"""

from __future__ import annotations

from typing import Final

from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.inbound import CHANNEL
from bot.channels.telegram.lean import retry_seconds
from bot.channels.telegram.render import How
from bot.conversation.replies import Reply
from bot.notify.pace import Pace
from bot.notify.sender import RetryLater, Undeliverable

# The outbox retries rows itself (after the 429's retry_after, with back-off), so its sends
# try once and wait out one 429 in the rate limiter (0 would mean the default there).
OUTBOX_SENDS: Final = How(attempts=1, rate_limit_args=1)


class TelegramSender:
    """The outbox's way into Telegram: the same bot and renderer as the chat."""

    channel: Final = CHANNEL
    pace: Final = Pace(per_second=30, per_chat_interval=1.0)

    def __init__(self, channel: TelegramChannel) -> None:
        self._channel = channel

    async def send(self, address: str, reply: Reply, *, kind: str = "") -> None:
        renderer = self._channel.renderer
        if renderer is None:
            raise RuntimeError("telegram is not started")
        try:
            await renderer.send(int(address), reply, how=OUTBOX_SENDS)
        except RetryAfter as exc:
            raise RetryLater(retry_seconds(exc), str(exc)) from exc
        except (Forbidden, BadRequest, ChatMigrated) as exc:  # blocked, no such chat, moved
            raise Undeliverable(f"{type(exc).__name__}: {exc}") from exc
