"""WhatsApp's side of bench/chat.py: the same customers and steps through the WhatsApp
webhook of a real `checkout-bot run` process, with this process playing Meta.

The fake Graph API (tests/channels/whatsapp/fake.py) POSTs each customer's message to
/whatsapp/webhook signed with the app secret, as Meta does, and notes when the bot's first
message to that customer reaches it: time from webhook in to message sent. It also sends the
status webhooks Meta sends after each message (`sent`), which the bot handles too. Meta's
own pair-rate and throughput limits are lifted here: the bench measures the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from bench.callbacks import free_port
from tests.channels.whatsapp.fake import (
    APP_SECRET,
    NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    FakeGraphAPI,
    Sent,
)

ENV: Final = {
    "WHATSAPP_ACCESS_TOKEN": TOKEN,
    "WHATSAPP_APP_SECRET": APP_SECRET,
    "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
}
REPLY_TIMEOUT: Final = 60.0


class WhatsApp:
    """The fake Graph API with a stopwatch, stepping customers like chat.Telegram does."""

    def __init__(self, fake: FakeGraphAPI, steps: tuple[tuple[str, str], ...]) -> None:
        self.fake = fake
        self.steps = steps
        self.waiting: dict[str, tuple[float, asyncio.Future[float]]] = {}
        fake.listeners.append(self.on_send)

    def on_send(self, sent: Sent) -> None:
        waiting = self.waiting.pop(sent.to, None)
        if waiting is not None and not waiting[1].done():
            waiting[1].set_result(sent.at - waiting[0])

    async def step(self, customer: Any, due: float | None = None) -> float | None:
        kind, what = self.steps[customer.step % len(self.steps)]
        customer.step += 1
        wa_id = str(customer.chat_id)
        answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[wa_id] = (due if due is not None else time.perf_counter(), answered)
        if kind == "text":
            value = self.fake.message(wa_id, "text", {"body": what})
        else:
            reply = {"type": "button_reply", "button_reply": {"id": what, "title": what[:20]}}
            value = self.fake.message(wa_id, "interactive", reply)
        await self.fake.push(value)
        try:
            return await asyncio.wait_for(answered, REPLY_TIMEOUT)
        except TimeoutError:
            self.waiting.pop(wa_id, None)
            return None


def write_config(path: Path, api_url: str) -> Path:
    """The Telegram bench's config with WhatsApp on instead of Telegram."""
    text = path.read_text()
    text = text.replace("[telegram]\nenabled = true", "[telegram]\nenabled = false")
    head = text.index("[whatsapp]")
    text = text[:head] + text[head:].replace("enabled = false", "enabled = true", 1)
    text = text.replace('phone_number_id = ""', f'phone_number_id = "{NUMBER_ID}"', 1)
    text = text.replace(
        'api_url = "https://graph.facebook.com/v23.0"', f'api_url = "{api_url}"', 1
    )
    out = path.with_name("whatsapp.toml")
    out.write_text(text)
    return out


async def whatsapp_round(
    args: argparse.Namespace, tmp: Path, telegram_config: Path, first_chat: int
) -> dict[str, dict[str, float]]:
    from bench import chat

    fake = FakeGraphAPI()
    fake.pair_burst = fake.per_second = 10**9  # Meta's limits: not what is measured here
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    fake.url = f"http://127.0.0.1:{fake_port}"
    config = write_config(telegram_config, fake.api_url)
    port = int(config.read_text().split("port = ", 1)[1].split("\n", 1)[0])
    fake.webhook_url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    if args.database_url:
        await chat.fresh_postgres(args.database_url, config)
    command = [sys.executable, "-m", "bot", "--config", str(config), "run"]
    process = await chat.start_process(command, port, extra_env=ENV)
    try:
        measured = await chat.measure(WhatsApp(fake, chat.STEPS), args, first_chat)
    finally:
        process.terminate()
        await process.wait()
        await fake.close()
        await runner.cleanup()
    return {f"whatsapp {phase}": summary for phase, summary in measured.items()}
