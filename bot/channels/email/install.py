"""Registers the SMTP sender with the outbox worker when `[email] enabled = true`; rows for
channel `email` otherwise wait in the outbox, unsent, like any channel without a sender."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.channels.email.sender import EmailSender
from bot.runtime import RUNTIME, Runtime
from payments.ports import Channel

log = logging.getLogger(__name__)


def install(app: web.Application, runtime: Runtime) -> None:
    if runtime.config.email.enabled:
        app.cleanup_ctx.append(email_sender)


async def email_sender(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the outbox sends receipts through SMTP while the app runs."""
    runtime = app[RUNTIME]
    email, outbox = runtime.config.email, runtime.outbox
    if outbox is not None:
        outbox.register(EmailSender(email, runtime.config.shop.name))
        log.info("email: receipts from %s through %s:%s (%s)", email.sender, email.host,
                 email.port, email.security)  # fmt: skip
    try:
        yield
    finally:
        if outbox is not None:
            outbox.unregister(Channel.EMAIL)
