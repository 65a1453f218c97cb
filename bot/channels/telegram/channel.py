"""Telegram through python-telegram-bot, used as a transport only.

PTB runs inside our aiohttp app: in webhook mode Telegram POSTs to /telegram/webhook
(install.py) and the update goes on PTB's queue; in polling mode PTB's Updater long-polls
getUpdates (a single instance only). Either way one PTB handler turns each update into an
`Inbound` (inbound.py), asks the dispatcher (bot/dispatch/answer.py: merchant routing,
language, "sorry") and renders the replies (render.py). install.py mounts it; sender.py is
the outbox worker's way in.

Updates of one chat are handled one after another in the order they came; different chats
in parallel. The conversation state is in the database, so a redelivered update (same
update_id) is answered once. PTB's HTTP goes through aiohttp (transport.py). The Bot API
URL holds the token: nothing here logs URLs, and the loggers that might are filtered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from telegram import CallbackQuery, Update
from telegram.error import (
    InvalidToken,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor, TypeHandler
from telegram.request import BaseRequest

from bot.channels import WEBHOOK_PATHS, Channel, ChannelStartFailed
from bot.channels.telegram.inbound import tapped_message, to_inbound
from bot.channels.telegram.lean import LeanBotAPI
from bot.channels.telegram.render import TelegramRenderer
from bot.channels.telegram.transport import AiohttpRequest
from bot.conversation.replies import Inbound, Reply
from bot.dispatch.answer import answer, language

if TYPE_CHECKING:
    from bot.config import Telegram
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
WEBHOOK_PATH: Final = WEBHOOK_PATHS[Channel.TELEGRAM]
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES: Final = ["message", "callback_query"]
# The rate limiter keeps the per-group pace (20 a minute) and waits out 429s. Its overall
# 30 a second is Telegram's bound for bulk notifications: the outbox keeps that pace itself
# (bot/notify/pace.py), while answers to people who just wrote go out at once, as many as
# they write; should Telegram still say 429, the answer waits and is sent again.
REPLY_RETRIES: Final = 3  # 429s a reply in the chat waits out
CONCURRENT_UPDATES: Final = 64
PTB_LOGGERS: Final = (
    "telegram",
    "telegram.Bot",
    "telegram.ext",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "telegram.ext.Updater",
    "telegram.ext.AIORateLimiter",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "httpx",
    "httpcore",
    "bot.channels.telegram.channel",
    "bot.channels.telegram.render",
    "bot.channels.telegram.sender",
    "bot.dispatch.answer",
    "bot.notify.worker",
)
PTBApp = Application[Any, Any, Any, Any, Any, Any]


class ChatOrder(BaseUpdateProcessor):
    """Many chats at once, but each chat's updates in the order they arrived."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]  # nobody waits: the next update makes a new one

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class RedactToken(logging.Filter):
    """Whatever PTB or httpx may say with the Bot API URL in it reaches no log with the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._token:
            return True
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = text.replace(self._token, "<token>")
        return True


def quiet_logs(token: str) -> RedactToken:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # logs every request URL at INFO
    redact = RedactToken(token)
    for name in PTB_LOGGERS:
        logging.getLogger(name).addFilter(redact)
    return redact


def build_application(settings: Telegram, requests: tuple[BaseRequest, BaseRequest]) -> PTBApp:
    """`requests`: for the Bot API calls, and for getUpdates."""
    api = settings.api_url.rstrip("/")
    builder = (
        Application.builder()
        .token(settings.token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(requests[0])
        .get_updates_request(requests[1])
        .rate_limiter(AIORateLimiter(overall_max_rate=0, max_retries=REPLY_RETRIES))
        .concurrent_updates(ChatOrder(CONCURRENT_UPDATES))
    )
    if settings.mode == "webhook":
        builder = builder.updater(None)
    return builder.build()


# ---- the channel -------------------------------------------------------------------------------


class TelegramChannel:
    """The PTB application of one app, and what it does with each update."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.config.telegram
        self.ptb: PTBApp | None = None
        self.renderer: TelegramRenderer | None = None
        self.handled = 0  # updates answered (or ignored) so far: for health checks and tests
        # Taps whose answerCallbackQuery went back in the webhook's reply (install.py).
        self.acked_inline: set[str] = set()

    async def start(self) -> None:
        quiet_logs(self.settings.token)
        requests = (AiohttpRequest(pool_size=CONCURRENT_UPDATES), AiohttpRequest(pool_size=1))
        ptb = build_application(self.settings, requests)
        ptb.add_handler(TypeHandler(Update, self.on_update))
        ptb.add_error_handler(self._on_error)
        try:
            await ptb.initialize()  # getMe: a wrong token fails the start, loudly
        except TelegramError as exc:  # PTB's InvalidToken message quotes the token
            for request in requests:
                await request.shutdown()
            api = self.settings.api_url
            refused = f"telegram.token was refused by {api}"
            reason = refused if isinstance(exc, InvalidToken) else f"{api}: {exc}"
            reason = reason.replace(self.settings.token, "<token>")
            raise ChannelStartFailed(f"telegram: cannot start the bot: {reason}") from None
        self.renderer = TelegramRenderer(ptb.bot, LeanBotAPI(requests[0], ptb.bot.base_url))
        await ptb.start()
        self.ptb = ptb
        if ptb.updater is not None:
            await ptb.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        else:
            await self._set_webhook(ptb)
        log.info("telegram: @%s ready (%s)", ptb.bot.username, self.settings.mode)

    async def stop(self) -> None:
        ptb, self.ptb = self.ptb, None
        if ptb is None:
            return
        if ptb.updater is not None and ptb.updater.running:
            await ptb.updater.stop()
        await ptb.stop()  # handles what is queued first
        await ptb.shutdown()

    async def _set_webhook(self, ptb: PTBApp) -> None:
        url = f"{self.runtime.config.server.public_url.rstrip('/')}{WEBHOOK_PATH}"
        try:
            await ptb.bot.set_webhook(
                url, secret_token=self.settings.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramError as exc:  # e.g. not https: the operator sets it, we keep serving
            log.warning("telegram: setWebhook failed (%s); set it by hand", exc)

    async def on_update(self, update: Update, _context: object) -> None:
        try:
            await self._on_update(update)
        finally:
            self.handled += 1

    async def _on_update(self, update: Update) -> None:
        query = update.callback_query
        if query is not None and query.id in self.acked_inline:
            self.acked_inline.discard(query.id)
            query = None  # answered in the webhook's reply
        inbound = to_inbound(update, self.ptb.bot.username if self.ptb else "")
        if inbound is None:
            return
        # Answer a button press at once (the client shows a spinner until then), alongside the
        # work rather than before it.
        acked = asyncio.create_task(self._ack(query)) if query is not None else None
        replies = await answer(self.runtime, inbound)  # a "sorry" when it fails
        try:
            await self._send(update, inbound, replies)
        except TelegramError as exc:  # after the renderer's own retries
            log.warning("telegram: could not answer update %s: %s", update.update_id, exc)
        if acked is not None:
            await acked

    async def _send(self, update: Update, inbound: Inbound, replies: list[Reply]) -> None:
        assert self.renderer is not None
        await self.renderer.send_all(
            int(inbound.chat_id),
            replies,
            language=language(self.runtime, inbound),
            tapped=tapped_message(update),
        )

    @staticmethod
    async def _ack(query: CallbackQuery) -> None:
        with contextlib.suppress(TelegramError):  # too old: the reply still comes
            await query.answer()

    async def _on_error(self, update: object, context: Any) -> None:
        log.error("telegram: %s", context.error, exc_info=context.error)
