"""`checkout-bot demo [--auto]`: the whole conversation in the terminal, paid in the sandbox.

The demo runs the real app (routes, sandbox provider, callbacks over HTTP to itself) on a
throwaway SQLite database in a temporary directory, so it never touches the shop's data and
needs no accounts. `--auto` plays a scripted customer to the payment confirmation and exits 0
when it was shown: a first look for newcomers, and a CI check.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, TextIO

import phonenumbers
from aiohttp import web
from sqlalchemy import select

from bot.app import create_app
from bot.channels.console.inbound import CHANNEL, ConsoleChat
from bot.channels.console.render import render
from bot.channels.console.sender import ConsoleOutbox
from bot.channels.whatsapp.preview import preview
from bot.config import Config
from bot.config.payments import only
from bot.conversation.replies import Reply
from bot.dispatch.dispatcher import handle
from bot.runtime import RUNTIME, Runtime
from bot.texts import supported
from payments.base import PaymentError
from payments.gateways.sandbox import NAME as SANDBOX
from payments.gateways.sandbox import SandboxGateway
from payments.ports import Recipient
from storage.models import Customer, Order, Payment

DEMO_MERCHANT_CHAT: Final = 1  # a stand-in merchant chat when the config names none
CONFIRM_TIMEOUT: Final = 30.0
POLL: Final = 0.2
HELP: Final = (
    "Type a number to tap a button, or just type. `pay` pays the sandbox payment now, "
    "/quit leaves."
)


def demo_config(config: Config, db_dir: Path, *, auto_pay: bool, language: str) -> Config:
    """The shop's config on a throwaway database and a free port, with the sandbox only.
    Whoever runs the demo also reads the merchant's notices, so their language comes first."""
    port = _port(config.server.host, config.server.port)
    first = supported(language, config.shop.languages) or config.shop.languages[0]
    languages = (first, *(other for other in config.shop.languages if other != first))
    payments = only(
        config.payments,
        SANDBOX,
        enabled=True,
        secret=secrets.token_urlsafe(24),  # this run's own: the demo's server is its only user
        auto_pay_after=getattr(config.payments, SANDBOX).auto_pay_after if auto_pay else 0,
    )
    merchants = config.telegram.merchant_chat_ids or (DEMO_MERCHANT_CHAT,)
    return replace(
        config,
        database=replace(config.database, url=f"sqlite+aiosqlite:///{db_dir / 'demo.db'}"),
        server=replace(config.server, port=port, public_url=f"http://127.0.0.1:{port}"),
        telegram=replace(config.telegram, enabled=False, merchant_chat_ids=merchants),
        whatsapp=replace(config.whatsapp, enabled=False),
        payments=payments,
        shop=replace(config.shop, languages=languages),
    )


def _port(host: str, wanted: int) -> int:
    """The configured port if it is free (a running service may hold it), else any free one."""
    with socket.socket() as probe:
        try:
            probe.bind((host, wanted))
            return wanted
        except OSError:
            probe.bind((host, 0))
            return int(probe.getsockname()[1])


@dataclass
class Terminal:
    out: TextIO
    color: bool = False
    channel: str = "console"  # "whatsapp": replies as WhatsApp shows them
    language: str = "en"

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def replies(self, replies: list[Reply], who: str = "") -> None:
        for reply in replies:
            self.say(f"── {who} ──" if who else "──")
            if self.channel == "whatsapp":
                self.say(preview(reply, self.language))
            else:
                self.say(render(reply, color=self.color))


@dataclass
class Demo:
    runtime: Runtime
    chat: ConsoleChat
    outbox: ConsoleOutbox
    term: Terminal

    async def send(self, line: str) -> None:
        if line.strip().lower() == "pay":
            await self.pay()
            return
        inbound = self.chat.inbound(line)
        if inbound is None:
            return
        replies = await handle(self.runtime, inbound)
        self.chat.remember(replies)
        self.term.replies(replies)
        await self.show_notices()

    async def tap(self, prefix: str, fallback: str = "") -> None:
        """Type the number of the first button whose id starts with prefix, else `fallback`."""
        numbers = [n for n, c in enumerate(self.chat.choices, 1) if c.id.startswith(prefix)]
        line = str(numbers[0]) if numbers else fallback
        self.term.say(f"> {line}")
        await self.send(line)

    async def pay(self) -> None:
        """Play the customer paying at the sandbox: its callback confirms, as in production."""
        reference = await self._open_reference()
        gateway = self.runtime.gateways.get(SANDBOX)
        if reference is None or not isinstance(gateway, SandboxGateway):
            self.term.say("(no sandbox payment is waiting)")
            return
        try:
            await gateway.settle(reference, "pay")
        except PaymentError as exc:
            self.term.say(f"(sandbox: {exc.detail})")
            return
        self.term.say(f"(sandbox: {reference} paid)")
        await self.wait_for(lambda: "customer:payment_paid" in self.outbox.seen_kinds)

    async def _open_reference(self) -> str | None:
        sessions = self.runtime.read_sessions or self.runtime.sessions
        assert sessions is not None
        async with sessions() as session:
            return await session.scalar(
                select(Payment.reference)
                .join(Order, Order.id == Payment.order_id)
                .join(Customer, Customer.id == Order.customer_id)
                .where(Customer.channel == CHANNEL, Customer.channel_user_id == self.chat.chat_id)
                .where(Payment.status.in_(("pending", "processing")))
                .order_by(Payment.id.desc())
            )

    async def show_notices(self, lead: str = "") -> int:
        """Print what the outbox holds for this terminal; `lead` goes before the first one."""
        notices = await self.outbox.drain()
        if notices and lead:
            self.term.out.write(lead)
        for notice in notices:
            who = "to you" if notice.to == "customer" else "to the merchant"
            self.term.replies([notice.reply], who)
        return len(notices)

    async def wait_for(self, done: Callable[[], bool]) -> bool:
        """Show notices as they come until `done`, for at most CONFIRM_TIMEOUT."""
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                while not done():
                    await self.show_notices()
                    if not done():
                        await asyncio.sleep(POLL)
        except TimeoutError:
            return False
        return True

    async def settle_down(self) -> None:
        """At the end of input: let auto-pay and callbacks finish, show what they caused."""
        if self.runtime.sandbox is not None:
            await self.runtime.sandbox.flush()
        await self.show_notices()


def auto_script(config: Config) -> list[tuple[str, str]]:
    """A first-time customer: one product, typed phone and address, the first method."""
    example = phonenumbers.example_number_for_type(
        config.shop.country, phonenumbers.PhoneNumberType.MOBILE
    )
    phone = (
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        if example
        else "+62 812 3456 7890"
    )
    return [
        ("type", "/start"),
        ("tap", "m:catalog"),
        ("tap", "cat:"),
        ("tap", "add:"),
        ("tap", "co"),
        ("tap", "ck:name"),
        ("type", phone),
        ("type", "Jl. Merdeka No. 1, Jakarta"),
        ("tap", "pay:"),
        ("type", "pay"),
    ]


async def run_demo(
    config: Config,
    *,
    auto: bool,
    language: str,
    stdin: TextIO,
    stdout: TextIO,
    channel: str = "console",
) -> int:
    with tempfile.TemporaryDirectory(prefix="checkout-demo-") as tmp:
        demo_conf = demo_config(config, Path(tmp), auto_pay=not auto, language=language)
        app = create_app(demo_conf)
        runner = web.AppRunner(
            app, access_log=None, keepalive_timeout=demo_conf.server.read_timeout
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", demo_conf.server.port)
            await site.start()
            demo = _demo(app[RUNTIME], demo_conf, language, stdout, auto)
            demo.term.channel = channel
            return await (_auto(demo, demo_conf) if auto else _interactive(demo, stdin))
        finally:
            await runner.cleanup()


def _demo(runtime: Runtime, config: Config, language: str, out: TextIO, auto: bool) -> Demo:
    chat = ConsoleChat(name="Siti" if auto else "", language=language)
    customer = Recipient(CHANNEL, chat.chat_id)
    outbox = ConsoleOutbox(runtime, customer, runtime.shop.merchants)
    shop = config.shop.languages
    term = Terminal(out, color=out.isatty(), language=supported(language, shop) or shop[0])
    term.say(f"checkout-bot demo: {config.shop.name} (sandbox payments, throwaway database)")
    term.say(HELP)
    return Demo(runtime, chat, outbox, term)


async def _auto(demo: Demo, config: Config) -> int:
    for action, value in auto_script(config):
        if action == "tap":
            await demo.tap(value, fallback=demo.chat.name)
        else:
            demo.term.say(f"> {value}")
            await demo.send(value)
    paid = await demo.wait_for(lambda: "customer:payment_paid" in demo.outbox.seen_kinds)
    demo.term.say("demo finished: payment confirmed" if paid else "demo failed: no confirmation")
    return 0 if paid else 1


async def _interactive(demo: Demo, stdin: TextIO) -> int:
    prompt = stdin.isatty()
    lines = _read_lines(stdin)
    await demo.send("/start")
    while True:
        line = await _next_line(demo, lines, prompt)
        if line is None or line.strip().lower() in ("/quit", "/exit"):
            break
        if not prompt:
            demo.term.say(f"> {line.rstrip()}")  # a piped transcript shows what was typed
        await demo.send(line)
    await demo.settle_down()
    return 0


async def _next_line(demo: Demo, lines: asyncio.Queue[str | None], prompt: bool) -> str | None:
    """The next typed line; meanwhile, notices that arrive (auto-pay) are shown."""
    if prompt:
        demo.term.out.write("> ")
        demo.term.out.flush()
    while True:
        try:
            return await asyncio.wait_for(lines.get(), POLL)
        except TimeoutError:
            if await demo.show_notices(lead="\n" if prompt else "") and prompt:
                demo.term.out.write("> ")
                demo.term.out.flush()


def _read_lines(stdin: TextIO) -> asyncio.Queue[str | None]:
    """Lines from a daemon thread (None at the end): a blocked read never holds up exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in iter(stdin.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:  # the loop closed first: the demo is over
            return

    threading.Thread(target=pump, name="demo-stdin", daemon=True).start()
    return queue
