"""Driving the running app through the fake Graph API: a WhatsApp customer who types and taps.

Each action posts a signed webhook and returns once the app has handled every event posted
so far (the channel's own count), so a test never taps a button the bot has not shown yet;
waits end on the fake's record (no sleeps), with a timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Final

from bot.channels.whatsapp.channel import WEBHOOK_PATH
from bot.channels.whatsapp.install import WHATSAPP
from bot.config import Api
from tests.channels.whatsapp.fake import (
    APP_SECRET,
    NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    FakeGraphAPI,
    Sent,
)
from tests.conftest import Running, free_port, make_config, start_app

CUSTOMER: Final = "6281234567890"
API_TOKEN: Final = "whatsapp-tests-api-token"
MERCHANT: Final = "6281100009001"


async def serve_fake(aiohttp_server: Any) -> FakeGraphAPI:
    fake = FakeGraphAPI()
    server = await aiohttp_server(fake.app, access_log=None)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


async def start_whatsapp(
    aiohttp_server: Any,
    db_url: str,
    fake: FakeGraphAPI,
    *,
    sandbox: dict[str, Any] | None = None,
    **settings: Any,
) -> Running:
    config = make_config(db_url, free_port(), **(sandbox or {}))
    whatsapp = replace(
        config.whatsapp,
        enabled=True,
        phone_number_id=NUMBER_ID,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        api_url=fake.api_url,
        merchant_numbers=(MERCHANT,),
        **settings,
    )
    config = replace(
        config,
        whatsapp=whatsapp,
        telegram=replace(config.telegram, merchant_chat_ids=()),
        api=Api(token=API_TOKEN),
    )
    running = await start_app(aiohttp_server, config)
    fake.webhook_url = running.url(WEBHOOK_PATH)
    return running


async def handled(
    running: Running, fake: FakeGraphAPI, within: float = 10.0, expected: int | None = None
) -> None:
    """Until the app's WhatsApp channel has handled every event the fake posted (or
    `expected` of them, when another instance took some)."""
    channel = running.server.app[WHATSAPP]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        await fake.settle()
        if channel.handled >= (fake.posted if expected is None else expected) and not fake._tasks:
            return
        assert asyncio.get_running_loop().time() < deadline, "the bot did not answer in time"
        await asyncio.sleep(0.005)


@dataclass
class WaUser:
    fake: FakeGraphAPI
    running: Running
    wa_id: str = CUSTOMER
    name: str = "Ana"
    mark: int = 0

    async def say(self, text: str) -> list[Sent]:
        return await self.send("text", {"body": text})

    async def send(self, kind: str, content: dict[str, Any], **kw: Any) -> list[Sent]:
        return await self._act(self.fake.message(self.wa_id, kind, content, name=self.name, **kw))

    async def tap(self, prefix: str) -> list[Sent]:
        """Tap the newest button or list row starting with `prefix` our last action got."""
        sent = await self.fake.wait_for(lambda: self._offering(prefix))
        choice = next(c for c in sent.choice_ids if c.startswith(prefix))
        return await self.tap_id(choice, sent)

    async def tap_id(self, choice: str, sent: Sent | None = None) -> list[Sent]:
        listed = sent is not None and sent.payload.get("type") == "list"
        kind = "list_reply" if listed else "button_reply"
        content = {"type": kind, kind: {"id": choice, "title": choice[:20]}}
        context = sent.wamid if sent is not None else None
        return await self.send("interactive", content, context=context)

    def _offering(self, prefix: str) -> Sent | None:
        for sent in reversed(self.fake.to(self.wa_id, after=self.mark)):
            if any(c.startswith(prefix) for c in sent.choice_ids):
                return sent
        return None

    async def _act(self, value: dict[str, Any]) -> list[Sent]:
        self.mark = self.fake.last_seq
        assert await self.fake.push(value) == 200
        await handled(self.running, self.fake)
        return self.fake.to(self.wa_id, after=self.mark)

    async def wait_text(self, *parts: str, after: int = 0, within: float = 10.0) -> Sent:
        def found() -> Sent | None:
            for sent in self.fake.to(self.wa_id, after=after):
                if all(p in sent.text for p in parts):
                    return sent
            return None

        result: Sent = await self.fake.wait_for(found, within)
        return result


async def checkout_to_summary(user: WaUser) -> None:
    """From "hi" to the order summary with its payment methods; WhatsApp gave the number."""
    await user.say("hi")
    await user.tap("m:catalog")
    await user.tap("cat:coffee")
    await user.tap("add:KOPI-SUSU")
    await user.tap("co")
    await user.tap("ck:name")
    await user.say("Jl. Merdeka No. 1, Jakarta")
    await user.fake.wait_for(lambda: user._offering("pay:"))
