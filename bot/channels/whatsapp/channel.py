"""What the webhook's events become: each new message answered through the channel-neutral
dispatcher (bot/dispatch/answer.py), each status moved forward on the message it is about.

The webhook route (install.py) answers Meta at once and hands the payload here; the work
runs in tasks of this channel, one chat's messages one after another, different chats in
parallel. A message id already handled (in the database, by any instance) is skipped, so
Meta's retries are answered once. Replies are rendered within WhatsApp's limits (render.py)
and sent with a few quick retries, the customer having just written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from bot.channels.whatsapp import store
from bot.channels.whatsapp.client import GraphClient, WhatsAppError
from bot.channels.whatsapp.inbound import Message, Status, parse, to_inbound
from bot.channels.whatsapp.render import Outgoing, render
from bot.conversation.replies import Reply
from bot.dispatch.answer import answer, language

if TYPE_CHECKING:
    from bot.channels.whatsapp.sender import WhatsAppSender
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
WEBHOOK_PATH: Final = "/whatsapp/webhook"
REPLY_ATTEMPTS: Final = 3
RETRY_PAUSE: Final = 0.5  # seconds before the second try; doubles
# Worth another try at once: pair rate (131056), throughput (130429), Meta's own trouble.
RETRY_CODES: Final = frozenset({131056, 130429, 131000, 131016, 1, 2})


class WhatsAppChannel:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.config.whatsapp
        self.client: GraphClient | None = None
        self.sender: WhatsAppSender | None = None
        self.handled = 0  # messages and statuses done (answered or skipped): for tests
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        assert self.runtime.http is not None, "the HTTP session starts first"
        self.client = GraphClient(
            self.runtime.http,
            api_url=self.settings.api_url,
            phone_number_id=self.settings.phone_number_id,
            token=self.settings.access_token,
        )
        log.info("whatsapp: ready for phone number id %s", self.settings.phone_number_id)

    async def stop(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.client = None

    def accept(self, data: Any) -> int:
        """Start the work for a verified webhook payload; returns how many events it holds."""
        messages, statuses = parse(data)
        for message in messages:
            self._spawn(self._message(message))
        for status in statuses:
            self._spawn(self._status(status))
        return len(messages) + len(statuses)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ours(self, phone_number_id: str) -> bool:
        """Route by metadata.phone_number_id: an app may serve several numbers; this one."""
        if not phone_number_id or phone_number_id == self.settings.phone_number_id:
            return True
        log.warning("whatsapp: event for another phone number id %s skipped", phone_number_id)
        return False

    async def _message(self, message: Message) -> None:
        lock = self._locks.setdefault(message.address, asyncio.Lock())
        try:
            async with lock:
                if self._ours(message.phone_number_id):
                    await self._answer(message)
        except Exception:
            log.exception("whatsapp: message %s not answered", message.message_id)
        finally:
            if not lock.locked() and self._locks.get(message.address) is lock:
                del self._locks[message.address]
            self.handled += 1

    async def _answer(self, message: Message) -> None:
        runtime, sessions = self.runtime, self.runtime.sessions
        assert sessions is not None
        inbound = to_inbound(message)
        lang = language(runtime, inbound)
        if not await store.take(sessions, message, language=lang, now=runtime.clock()):
            log.debug("whatsapp: message %s seen before", message.message_id)
            return
        read = asyncio.create_task(self._mark_read(message.message_id))
        replies = await answer(runtime, inbound)
        await self.deliver(message.address, replies, lang)
        await read

    async def _mark_read(self, wamid: str) -> None:
        """Blue ticks and "typing…" while we work; nothing depends on it."""
        assert self.client is not None
        with contextlib.suppress(WhatsAppError, aiohttp.ClientError, TimeoutError):
            await self.client.mark_read(wamid)

    async def deliver(self, address: str, replies: Sequence[Reply], lang: str) -> None:
        for reply in replies:
            for message in render(reply, lang):
                try:
                    await self.send(address, message, attempts=REPLY_ATTEMPTS)
                except (WhatsAppError, aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("whatsapp: reply not sent (%s)", exc)
                    return

    async def send(
        self, address: str, message: Outgoing, *, attempts: int = 1, tracker: str = ""
    ) -> str:
        """One message, its media uploaded first; returns the wamid. `tracker` comes back in
        the message's status webhooks."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._send_once(address, message, tracker)
            except WhatsAppError as exc:
                if exc.code not in RETRY_CODES or attempt >= attempts:
                    raise
                pause = RETRY_PAUSE * 2 ** (attempt - 1)
            except (aiohttp.ClientError, TimeoutError):
                if attempt >= attempts:
                    raise
                pause = RETRY_PAUSE * 2 ** (attempt - 1)
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def _send_once(self, address: str, message: Outgoing, tracker: str) -> str:
        client = self.client
        assert client is not None, "whatsapp is not started"
        payload = message.payload
        if message.upload is not None:
            content, mime, filename = message.upload
            media_id = await client.upload(content, mime, filename)
            payload = _with_media(message, media_id)
        return await client.send(address, message.type, payload, tracker)

    async def _status(self, status: Status) -> None:
        try:
            if self._ours(status.phone_number_id) and self.sender is not None:
                await self.sender.on_status(status)
        except Exception:
            log.exception("whatsapp: status of %s not applied", status.wamid)
        finally:
            self.handled += 1


def _with_media(message: Outgoing, media_id: str) -> dict[str, Any]:
    payload = dict(message.payload)
    if message.type == "interactive":  # an image header on reply buttons
        header = dict(payload["header"])
        header["image"] = {"id": media_id}
        payload["header"] = header
    else:
        payload["id"] = media_id
    return payload
