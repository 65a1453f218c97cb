"""How bot/app.py mounts WhatsApp: the channel's lifetime (a cleanup context), its sender
registered with the outbox worker while it runs, and GET/POST /whatsapp/webhook.

GET answers Meta's verification challenge when the verify token matches (compared in
constant time), 403 otherwise. POST checks X-Hub-Signature-256 over the raw body with the app
secret (401 without it, 403 when wrong), hands the payload to the channel and answers 200 at
once; the work runs after the answer (channel.py).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.channels.whatsapp.channel import WEBHOOK_PATH, WhatsAppChannel
from bot.channels.whatsapp.inbound import (
    CHANNEL,
    SIGNATURE_HEADER,
    Signature,
    check_signature,
    read_body,
)
from bot.channels.whatsapp.sender import WhatsAppSender
from bot.runtime import Runtime

log = logging.getLogger(__name__)
WHATSAPP = web.AppKey("whatsapp", WhatsAppChannel)


def install(app: web.Application, runtime: Runtime) -> WhatsAppChannel | None:
    """Nothing while `[whatsapp] enabled = false`."""
    if not runtime.config.whatsapp.enabled:
        return None
    channel = WhatsAppChannel(runtime)
    channel.sender = WhatsAppSender(channel)
    app[WHATSAPP] = channel
    app.cleanup_ctx.append(whatsapp_app)
    app.router.add_get(WEBHOOK_PATH, verify)
    app.router.add_post(WEBHOOK_PATH, webhook)
    return channel


async def whatsapp_app(app: web.Application) -> AsyncIterator[None]:
    channel = app[WHATSAPP]
    await channel.start()
    outbox = channel.runtime.outbox
    if outbox is not None and channel.sender is not None:
        outbox.register(channel.sender)
    try:
        yield
    finally:
        if outbox is not None:
            outbox.unregister(CHANNEL)
        await channel.stop()


async def verify(request: web.Request) -> web.Response:
    settings = request.app[WHATSAPP].settings
    query = request.query
    given = query.get("hub.verify_token", "").encode("utf-8", "replace")
    good = hmac.compare_digest(given, settings.verify_token.encode())
    if query.get("hub.mode") != "subscribe" or not good:
        log.warning("whatsapp: webhook verification refused")
        raise web.HTTPForbidden()
    return web.Response(text=query.get("hub.challenge", ""))


async def webhook(request: web.Request) -> web.Response:
    channel = request.app[WHATSAPP]
    raw = await request.read()
    checked = check_signature(
        channel.settings.app_secret, request.headers.get(SIGNATURE_HEADER), raw
    )
    if checked is not Signature.GOOD:
        log.warning("whatsapp: webhook refused, signature %s", checked.value)
        status = 401 if checked is Signature.MISSING else 403
        return web.Response(status=status, text=f"signature {checked.value}\n")
    data = read_body(raw)
    if not isinstance(data, dict):
        log.warning("whatsapp: signed webhook body is not a JSON object (%d bytes)", len(raw))
        return web.Response(status=400, text="not a JSON object\n")
    channel.accept(data)
    return web.Response(text="ok")
