"""How fast the outbox may talk on one channel: so many messages a second in all, and a gap
between two messages to the same chat (Telegram: about 30 a second, 1 a second per chat).

A turn is taken at the moment of sending, not reserved ahead, so a chat that must wait never
holds back the others. Per process: several instances each keep their own pace, and the
channel's 429 answers (retried by the worker) cover the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

PRUNE_EVERY: Final = 1000  # turns between sweeps of the per-chat table


@dataclass(frozen=True, slots=True)
class Pace:
    per_second: float = 30.0  # all chats of the channel together; 0: no limit
    per_chat_interval: float = 1.0  # seconds between two messages to one chat
    max_text: int = 4096  # characters in one message (Telegram's and WhatsApp's limit)


NO_LIMIT: Final = Pace(per_second=0, per_chat_interval=0)


class Pacer:
    def __init__(self, pace: Pace, clock: Callable[[], float] = time.monotonic) -> None:
        self.pace = pace
        self._clock = clock
        self._recent: deque[float] = deque()  # sends in the last second
        self._chat_free: dict[str, float] = {}  # chat -> when it may get the next message
        self._turns = 0

    def wait_needed(self, chat: str) -> float:
        """Seconds until `chat` may get a message; 0 when it may now."""
        now = self._clock()
        return max(self._chat_free.get(chat, 0.0) - now, self._overall_wait(now), 0.0)

    async def turn(self, chat: str) -> None:
        """Wait for this chat's turn and take it."""
        while (wait := self.wait_needed(chat)) > 0:  # noqa: ASYNC110 - a clock, not an event
            await asyncio.sleep(wait)
        now = self._clock()
        if self.pace.per_second > 0:
            self._recent.append(now)
        if self.pace.per_chat_interval > 0:
            self._chat_free[chat] = now + self.pace.per_chat_interval
        self._turns += 1
        if self._turns % PRUNE_EVERY == 0:
            self._chat_free = {c: t for c, t in self._chat_free.items() if t > now}

    def hold(self, chat: str, seconds: float) -> None:
        """Keep this chat quiet for a while (the channel said: retry after)."""
        until = self._clock() + seconds
        self._chat_free[chat] = max(self._chat_free.get(chat, 0.0), until)

    def _overall_wait(self, now: float) -> float:
        limit = self.pace.per_second
        if limit <= 0:
            return 0.0
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) < limit:
            return 0.0
        return self._recent[0] + 1.0 - now
