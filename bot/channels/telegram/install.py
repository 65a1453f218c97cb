"""How bot/app.py mounts Telegram: the channel's lifetime (a cleanup context), its sender
registered with the outbox worker while it runs, and POST /telegram/webhook.

The webhook is checked against the secret-token header in constant time (403 otherwise) and
puts the update on PTB's queue; the answer is 200 at once, carrying a tap's
answerCallbackQuery as its body.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from aiohttp import web

from bot.channels.telegram.channel import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.channels.telegram.inbound import CHANNEL, read_update
from bot.channels.telegram.sender import TelegramSender
from bot.runtime import Runtime

TELEGRAM = web.AppKey("telegram", TelegramChannel)


def install(app: web.Application, runtime: Runtime) -> TelegramChannel | None:
    """For create_app: the channel under app[TELEGRAM], its lifetime and its webhook route;
    nothing while `[telegram] enabled = false`."""
    if not runtime.config.telegram.enabled:
        return None
    channel = TelegramChannel(runtime)
    app[TELEGRAM] = channel
    app.cleanup_ctx.append(telegram_app)
    app.router.add_post(WEBHOOK_PATH, webhook)
    return channel


async def telegram_app(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: PTB up (and polling, in polling mode); the outbox sends through it."""
    channel = app[TELEGRAM]
    await channel.start()
    outbox = channel.runtime.outbox
    if outbox is not None:
        outbox.register(TelegramSender(channel))
    try:
        yield
    finally:
        if outbox is not None:
            outbox.unregister(CHANNEL)
        await channel.stop()


async def webhook(request: web.Request) -> web.Response:
    channel = request.app[TELEGRAM]
    expected = channel.settings.webhook_secret.encode()
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
    if channel.settings.mode != "webhook" or not hmac.compare_digest(given, expected):
        raise web.HTTPForbidden()
    ptb = channel.ptb
    if ptb is None or not ptb.running:
        raise web.HTTPServiceUnavailable()  # Telegram delivers it again later
    # An unreadable update is answered 200 too: Telegram would deliver it again, and hold back
    # the updates behind it, for as long as we refused it.
    update = read_update(await request.read(), ptb.bot)
    if update is None:
        return web.Response()
    query = update.callback_query
    if query is not None:  # before the queue: the handler looks for it there
        channel.acked_inline.add(query.id)
    await ptb.update_queue.put(update)  # handled in PTB's task; Telegram gets its 200 now
    if query is None:
        return web.Response()
    # The tap's answerCallbackQuery rides in this reply (the Bot API runs a method given as
    # a webhook's answer): one Bot API call less per tap, and the spinner stops at once.
    return web.json_response({"method": "answerCallbackQuery", "callback_query_id": query.id})
