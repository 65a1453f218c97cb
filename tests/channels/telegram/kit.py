"""Driving the running app through the fake Bot API: a Telegram user who types and taps.

Each action waits for the bot's answer to the previous one before it looks for a button, so
a test never taps a button the bot has not shown yet; waits end on the fake's own record of
calls (no sleeps), with a timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from bot.channels.telegram.channel import WEBHOOK_PATH
from bot.channels.telegram.install import TELEGRAM
from storage.db import transaction
from storage.models import Outbox, Payment
from tests.channels.telegram.fake import TOKEN, Call, FakeBotAPI
from tests.conftest import Running, free_port, make_config, start_app

SECRET: Final = "tg-secret_0123456789"
MERCHANT_CHAT: Final = 9001
# PTB 22 warns when a RetryAfter is made (its retry_after becomes a timedelta in PTB 23);
# the 429 tests make some.
RETRY_AFTER_WARNING: Final = (
    "ignore:Deprecated since version v22.2. In a future major version attribute `retry_after`"
    ":telegram.warnings.PTBDeprecationWarning"
)


async def serve_fake(aiohttp_server: Any) -> FakeBotAPI:
    fake = FakeBotAPI()
    server = await aiohttp_server(fake.app, access_log=None)  # its URLs hold the token
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


def telegram_settings(fake: FakeBotAPI, mode: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "token": TOKEN,
        "mode": mode,
        "webhook_secret": SECRET,
        "api_url": fake.url,
    }


async def start_bot(
    aiohttp_server: Any, db_url: str, fake: FakeBotAPI, mode: str, **sandbox: object
) -> Running:
    config = make_config(db_url, free_port(), telegram=telegram_settings(fake, mode), **sandbox)
    running = await start_app(aiohttp_server, config)
    if mode == "webhook":
        assert fake.webhook is not None
        assert fake.webhook["url"] == f"{config.server.public_url}{WEBHOOK_PATH}"
    return running


@dataclass
class TgUser:
    """A Telegram user in a private chat with the bot. With `running`, each action returns
    once the bot has handled every update pushed so far (its whole answer is out)."""

    fake: FakeBotAPI
    running: Running | None = None
    chat_id: int = 5550001
    language: str = "id"
    mark: int = 0  # the fake's call number before our last action
    extra: dict[str, Any] = field(default_factory=dict)

    async def say(self, text: str) -> list[Call]:
        return await self._act(self.fake.text(self.chat_id, text, **self._user()))

    async def share_contact(self, phone: str, *, user_id: int | None = None) -> list[Call]:
        pushed = self.fake.contact(self.chat_id, phone, user_id=user_id, **self._user())
        return await self._act(pushed)

    async def tap(self, prefix: str) -> list[Call]:
        """Tap the newest button starting with `prefix` among what our last action got."""
        key = await self.fake.wait_for(
            lambda: self.fake.message_with(self.chat_id, prefix, self.mark)
        )
        data = self.fake.button(key, prefix)
        return await self._act(self.fake.tap(self.chat_id, data, key[1], **self._user()))

    async def tap_data(self, data: str, message_id: int | None = None) -> list[Call]:
        """A tap with this data, e.g. on a button of an old message (stale)."""
        return await self._act(self.fake.tap(self.chat_id, data, message_id, **self._user()))

    async def _act(self, pushing: Any) -> list[Call]:
        self.mark = self.fake.last_seq
        await pushing
        await handled(self.running, self.fake.pushed)
        return await self.answer()

    async def answer(self) -> list[Call]:
        """At least the first message the bot showed after our last action."""
        await self.fake.wait_for(lambda: self.fake.sent(self.chat_id, after=self.mark))
        return self.fake.sent(self.chat_id, after=self.mark)

    async def wait_text(self, *parts: str, after: int = 0) -> Call:
        """The first message (sent or edited) after `after` that contains every part."""

        def found() -> Call | None:
            for call in self.fake.sent(self.chat_id, after=after):
                if all(p in call.text for p in parts):
                    return call
            return None

        result: Call = await self.fake.wait_for(found)
        return result

    def _user(self) -> dict[str, Any]:
        return {"language_code": self.language, **self.extra}


async def handled(running: Running | None, count: int, within: float = 10.0) -> None:
    """Until the app's Telegram channel has handled `count` updates."""
    if running is None:
        return
    channel = running.server.app[TELEGRAM]
    deadline = asyncio.get_running_loop().time() + within
    while channel.handled < count:
        assert asyncio.get_running_loop().time() < deadline, "the bot did not answer in time"
        await asyncio.sleep(0.005)


async def checkout_to_summary(user: TgUser) -> None:
    """From /start to the order summary with its payment methods, sharing the phone."""
    await user.say("/start")
    await user.tap("m:catalog")
    await user.tap("cat:coffee")
    await user.tap("add:KOPI-SUSU")
    await user.tap("co")
    await user.tap("ck:name")
    await user.share_contact("6281234567890")
    await user.say("Jl. Merdeka No. 1, Jakarta")
    await user.fake.wait_for(lambda: user.fake.message_with(user.chat_id, "pay:", user.mark))


async def rows(running: Running, statement: Any) -> list[Any]:
    sessions = running.runtime.sessions
    assert sessions is not None
    async with transaction(sessions) as session:
        return list((await session.execute(statement)).all())


async def the_payment(running: Running) -> Payment:
    [(payment,)] = await rows(running, select(Payment))
    return payment  # type: ignore[no-any-return]


async def pay_at_sandbox(running: Running, reference: str, outcome: str = "pay") -> None:
    await running.runtime.gateways["sandbox"].settle(reference, outcome)  # type: ignore[attr-defined]
    assert running.runtime.sandbox is not None
    await running.runtime.sandbox.flush()


async def outbox_rows(running: Running, kind: str) -> list[Outbox]:
    return [r for (r,) in await rows(running, select(Outbox).where(Outbox.kind == kind))]


async def outbox_settled(running: Running, within: float = 10.0) -> list[tuple[str, str]]:
    """(kind, outcome) of every outbox row once none is waiting: sent, failed or pending."""
    query = select(Outbox.kind, Outbox.sent_at, Outbox.failed_at, Outbox.next_attempt_at)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await rows(running, query)
        waiting = [k for k, sent, failed, _ in found if sent is None and failed is None]
        if not waiting or asyncio.get_running_loop().time() > deadline:
            return sorted((k, _outcome(s, f)) for k, s, f, _ in found)
        await asyncio.sleep(0.02)


def _outcome(sent: Any, failed: Any) -> str:
    return "sent" if sent is not None else "failed" if failed is not None else "pending"
