"""Chat latency and throughput: a real `checkout-bot run` process in webhook mode on SQLite,
python-telegram-bot talking to a fake Bot API, next to an echo bot on the same fake; then the
same customers on WhatsApp's webhook against a fake Graph API (bench/chat_whatsapp.py).

This process plays Telegram: the fake Bot API (tests/channels/telegram/fake.py) POSTs each
update to the bot's webhook, as Telegram does, and notes when the bot's answer (sendMessage,
editMessageText, ...) reaches it. Time from update to reply = that moment minus when the
update was due. Simulated customers walk the shop (start, catalog, category, add, +1, a typed
order, yes, cart) one update at a time; every update loads and saves the conversation.

The echo bot is the floor: PTB with the same transport (bot/channels/telegram/transport.py) behind
the same kind of aiohttp webhook route, answering each update with one sendMessage (and each
tap with answerCallbackQuery), no storage.

    python bench/chat.py [--seconds 5] [--rates 50 200] [--runs 3] [--database-url PG_URL]
                         [--no-whatsapp]
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import itertools
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.callbacks import free_port  # noqa: E402
from tests.channels.telegram.fake import SENDS, TOKEN, Call, FakeBotAPI  # noqa: E402

SECRET: Final = "bench-webhook-secret"
STEPS: Final = (
    ("text", "/start"),
    ("tap", "m:catalog"),
    ("tap", "cat:coffee:0"),
    ("tap", "add:KOPI-SUSU"),
    ("tap", "inc:KOPI-SUSU"),
    ("text", "2 teh tarik"),
    ("tap", "ft:yes"),
    ("tap", "m:cart"),
)
FIRST_CHAT: Final = 6_000_000
REPLY_TIMEOUT: Final = 60.0  # an update without an answer by then is lost
WARM_UP_AT_ONCE: Final = 16
ENV: Final = {
    "PYTHONPATH": str(ROOT),
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": SECRET,
}


# ---- the echo bot (runs in its own process) ----------------------------------------------------


def serve_echo(port: int, api_url: str) -> None:
    from telegram import Update
    from telegram.ext import Application, TypeHandler

    from bot.channels.telegram.transport import AiohttpRequest  # the same transport as the app

    async def echo(update: Update, _: Any) -> None:
        chat = update.effective_chat
        assert chat is not None
        if update.callback_query is not None:
            await update.callback_query.answer()
            await ptb.bot.send_message(chat.id, update.callback_query.data or "?")
        elif update.message is not None:
            await ptb.bot.send_message(chat.id, update.message.text or "?")

    ptb = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{api_url}/bot")
        .request(AiohttpRequest())
        .updater(None)
        .concurrent_updates(64)
        .build()
    )
    ptb.add_handler(TypeHandler(Update, echo))

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, SECRET.encode()):
            raise web.HTTPForbidden()
        await ptb.update_queue.put(Update.de_json(await request.json(), ptb.bot))
        return web.Response()

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await ptb.initialize()
        await ptb.start()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await ptb.bot.set_webhook(url, secret_token=SECRET)
        yield
        await ptb.stop()
        await ptb.shutdown()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = web.Application()
    app.cleanup_ctx.append(lifetime)
    app.router.add_post("/telegram/webhook", webhook)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


# ---- the customers -----------------------------------------------------------------------------


@dataclass
class Customer:
    chat_id: int
    step: int = 0


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds
    lost: int = 0  # no answer within REPLY_TIMEOUT
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "rate": self.count / self.elapsed if self.elapsed else 0.0,
            "p50": ordered[len(ordered) // 2] * 1000,
            "p99": ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000,
            "lost": float(self.lost),
        }


class Telegram:
    """The fake Bot API with a stopwatch: who waits for an answer since when."""

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self.waiting: dict[int, tuple[float, asyncio.Future[float]]] = {}
        fake.listeners.append(self.on_call)

    def on_call(self, call: Call) -> None:
        if call.method not in SENDS or call.chat_id is None:
            return
        waiting = self.waiting.pop(call.chat_id, None)
        if waiting is not None and not waiting[1].done():
            waiting[1].set_result(call.at - waiting[0])

    async def step(self, customer: Customer, due: float | None = None) -> float | None:
        """One update of this customer; seconds until the bot's answer, None if none came."""
        kind, what = STEPS[customer.step % len(STEPS)]
        customer.step += 1
        answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        start = due if due is not None else time.perf_counter()
        self.waiting[customer.chat_id] = (start, answered)
        if kind == "text":
            await self.fake.text(customer.chat_id, what)
        else:
            shown = self.fake.last_shown.get(customer.chat_id)
            await self.fake.tap(customer.chat_id, what, shown)
        try:
            return await asyncio.wait_for(answered, REPLY_TIMEOUT)
        except TimeoutError:
            self.waiting.pop(customer.chat_id, None)
            return None


async def open_loop(
    tg: Telegram, customers: list[Customer], rate: float, seconds: float
) -> Result:
    """`rate` updates a second for `seconds`, from idle customers; latency counts from when
    each was due. A customer waits for its answer before it writes again, so when the bot
    falls behind, updates wait here (counted in their latency) or, with no customer free,
    are not offered at all; the phase ends once every answer is in."""
    idle: asyncio.Queue[Customer] = asyncio.Queue()
    for customer in customers:
        idle.put_nowait(customer)
    result = Result()
    tasks: set[asyncio.Task[None]] = set()

    async def one(customer: Customer, due: float) -> None:
        latency = await tg.step(customer, due)
        if latency is None:
            result.lost += 1
        else:
            result.latencies.append(latency)
        idle.put_nowait(customer)

    start = time.perf_counter()
    end = start + seconds
    for i in itertools.count():
        due = start + i / rate
        if due >= end:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        try:
            customer = await asyncio.wait_for(idle.get(), max(end - time.perf_counter(), 0.0))
        except TimeoutError:
            break  # everyone is still waiting for an answer
        task = asyncio.create_task(one(customer, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    return result


async def closed_loop(tg: Telegram, customers: list[Customer], seconds: float) -> Result:
    """Every customer sends its next update as soon as the last one was answered."""
    result = Result()
    end = time.perf_counter() + seconds

    async def walk(customer: Customer) -> None:
        while time.perf_counter() < end:
            latency = await tg.step(customer)
            if latency is None:
                result.lost += 1
            else:
                result.latencies.append(latency)

    start = time.perf_counter()
    await asyncio.gather(*(walk(c) for c in customers))
    result.elapsed = time.perf_counter() - start
    return result


# ---- the harness -------------------------------------------------------------------------------


def write_config(tmp: Path, port: int, api_url: str, database_url: str) -> Path:
    text = (ROOT / "config.toml").read_text()
    database_url = database_url or f"sqlite+aiosqlite:///{tmp / 'chat.db'}"
    text = text.replace("sqlite+aiosqlite:///checkout.db", database_url)
    text = text.replace("port = 8080", f"port = {port}")
    text = text.replace('"http://127.0.0.1:8080"', f'"http://127.0.0.1:{port}"')
    text = text.replace("[telegram]\nenabled = false", "[telegram]\nenabled = true")
    text = text.replace('mode = "polling"', 'mode = "webhook"')
    sandbox = "[payments.sandbox]\nenabled = "  # the chat offers its methods, as before
    text = text.replace(f"{sandbox}false", f"{sandbox}true")
    text = text.replace('"${CHECKOUT_SANDBOX_SECRET}"', '"bench-sandbox-secret-0123"')
    text = text.replace('api_url = "https://api.telegram.org"', f'api_url = "{api_url}"')
    path = tmp / "config.toml"
    path.write_text(text)
    return path


async def start_process(
    args: list[str], port: int, extra_env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    env = {**os.environ, **ENV, **(extra_env or {})}
    process = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{args[1:]} did not come up on port {port}")


async def fresh_postgres(url: str, config: Path) -> None:
    """An empty, migrated schema (PostgreSQL is not migrated by `run`, SQLite is)."""
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    upgrade = [sys.executable, "-m", "bot", "--config", str(config), "db", "upgrade"]
    process = await asyncio.create_subprocess_exec(
        *upgrade, stdout=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, **ENV}
    )
    if await process.wait() != 0:
        raise RuntimeError("db upgrade failed")


async def measure(
    tg: Telegram, args: argparse.Namespace, first_chat: int
) -> dict[str, dict[str, float]]:
    customers = [Customer(first_chat + n) for n in range(args.users)]
    limit = asyncio.Semaphore(WARM_UP_AT_ONCE)

    async def warm_up(customer: Customer) -> None:
        async with limit:
            await tg.step(customer)  # the first /start makes the customer's rows

    await asyncio.gather(*(warm_up(c) for c in customers))
    phases = {"single": await closed_loop(tg, customers[:1], args.seconds / 2)}
    for rate in args.rates:
        phases[f"{rate:g}/s"] = await open_loop(tg, customers, rate, args.seconds)
    phases["max"] = await closed_loop(tg, customers[: args.concurrency], args.seconds)
    return {phase: result.summary() for phase, result in phases.items()}


async def one_round(args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, float]]:
    fake = FakeBotAPI()
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    fake.url = f"http://127.0.0.1:{fake_port}"
    tg = Telegram(fake)
    app_port, echo_port = free_port(), free_port()
    config = write_config(tmp, app_port, fake.url, args.database_url)
    if args.database_url:
        await fresh_postgres(args.database_url, config)
    bots = {
        "app": ([sys.executable, "-m", "bot", "--config", str(config), "run"], app_port),
        "echo": ([sys.executable, __file__, "--echo", str(echo_port), fake.url], echo_port),
    }
    results: dict[str, dict[str, float]] = {}
    try:
        for offset, (name, (command, port)) in enumerate(bots.items()):
            process = await start_process(command, port)  # it points the webhook at itself
            try:
                measured = await measure(tg, args, FIRST_CHAT + offset * 100_000)
            finally:
                process.terminate()
                await process.wait()
            results |= {f"{name} {phase}": summary for phase, summary in measured.items()}
    finally:
        await fake.close()
        await runner.cleanup()
    if args.whatsapp:
        from bench.chat_whatsapp import whatsapp_round

        results |= await whatsapp_round(args, tmp, config, FIRST_CHAT + 200_000)
    return results


def report(runs: list[dict[str, dict[str, float]]], args: argparse.Namespace) -> None:
    def med(key: str, name: str) -> float:
        return statistics.median(run[key][name] for run in runs)

    def line(label: str, phase: str) -> str:
        a, e = f"app {phase}", f"echo {phase}"
        return (
            f"{label:<30} app {med(a, 'rate'):4.0f}/s p50 {med(a, 'p50'):7.1f} ms p99 "
            f"{med(a, 'p99'):7.1f} ms | echo {med(e, 'rate'):4.0f}/s p50 {med(e, 'p50'):5.1f} ms "
            f"p99 {med(e, 'p99'):6.1f} ms | lost {med(a, 'lost'):.0f}"
        )

    def whatsapp(label: str, phase: str) -> str:
        w = f"whatsapp {phase}"
        return (
            f"{label:<30} whatsapp {med(w, 'rate'):4.0f}/s p50 {med(w, 'p50'):7.1f} ms p99 "
            f"{med(w, 'p99'):7.1f} ms | lost {med(w, 'lost'):.0f}"
        )

    labels = [("one customer at a time", "single")]
    labels += [(f"offered {rate:g} updates/s", f"{rate:g}/s") for rate in args.rates]
    labels += [(f"as fast as {args.concurrency} customers go", "max")]
    for label, phase in labels:
        print(line(label, phase))
        if args.whatsapp:
            print(whatsapp("", phase))
    app, echo = med("app max", "rate"), med("echo max", "rate")
    single = med("app single", "p50") / med("echo single", "p50")
    print(f"ratio app/echo: throughput {app / echo:.2f}, one-customer p50 {single:.1f}x")
    print(
        f"(median of {len(runs)} runs, {args.seconds:g} s a phase, on "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}; /s = answers a second; "
        f"bar: p99 < 30 ms at 200 updates/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="per phase")
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32, help="customers in the max phase")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url", default="", help="postgresql+asyncpg://... (emptied!); default SQLite"
    )
    parser.add_argument(
        "--no-whatsapp", dest="whatsapp", action="store_false", help="Telegram only"
    )
    parser.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.echo:
        return serve_echo(args.echo, rest[0])
    runs = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(asyncio.run(one_round(args, Path(tmp))))
        print(f"run {n + 1}: {runs[-1]}", file=sys.stderr)
    report(runs, args)


if __name__ == "__main__":
    main()
