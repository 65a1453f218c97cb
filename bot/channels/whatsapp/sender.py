"""The outbox worker's way into WhatsApp, with the 24-hour window.

Within 24 hours (less a safety margin) of the customer's last message a notice goes as a
normal message; outside it, as the approved template `[whatsapp.templates]` names for the
notice's kind, its body taking the order code, amount and method (Reply.facts). A free-form
send refused with 131047 (outside the window after all), at once or later as a `failed`
status webhook, falls back to the template once. With no template for the kind the row fails
with that reason and the merchants are told, once a day per kind.

Pacing: the worker keeps about one message per 6 s per customer and 80 a second in all
(Meta's pair rate and throughput); Meta's 131056 holds that customer back, 130429 pauses
the whole number with a growing back-off. Meta's permanent refusals (not a WhatsApp user,
unsupported, bad token, ...) stop the row with the reason; the rest are retried.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Final, Protocol

import aiohttp

from bot import texts
from bot.channels.whatsapp import store
from bot.channels.whatsapp.client import WhatsAppError
from bot.channels.whatsapp.inbound import CHANNEL, Status
from bot.channels.whatsapp.render import Outgoing, render
from bot.conversation.replies import Reply
from bot.notify.pace import Pace
from bot.notify.sender import RetryLater, Undeliverable

if TYPE_CHECKING:
    from bot.config import WhatsApp
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
MARGIN: Final = timedelta(minutes=10)  # a window about to close counts as closed
OUTSIDE_WINDOW: Final = 131047
PAIR_RATE: Final = 131056
THROUGHPUT: Final = frozenset({130429, 80007, 4})
PAIR_WAIT: Final = 6.0
PAUSE_FIRST, PAUSE_MAX = 2.0, 60.0
PERMANENT: Final = frozenset(
    {
        131026,
        131051,
        190,
        131030,
        131031,
        131009,
        131008,
        132000,
        132001,
        132015,
        132016,
        131062,
        10,
        200,
    }
)
NOTICE_KIND: Final = "whatsapp_undelivered"


class Channel(Protocol):
    """What the sender uses of bot/channels/whatsapp/channel.py WhatsAppChannel."""

    runtime: Runtime
    settings: WhatsApp

    async def send(
        self, address: str, message: Outgoing, *, attempts: int = 1, tracker: str = ""
    ) -> str: ...


class WhatsAppSender:
    channel: Final = CHANNEL
    pace: Final = Pace(per_second=80, per_chat_interval=PAIR_WAIT)

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._paused_until = 0.0
        self._pause = PAUSE_FIRST

    async def send(self, address: str, reply: Reply, *, kind: str = "") -> None:
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            raise RetryLater(wait, "whatsapp: number paused after 130429")
        try:
            await self._send(address, reply, kind)
        except WhatsAppError as exc:
            raise self._read(exc) from exc
        self._pause = PAUSE_FIRST

    async def _send(self, address: str, reply: Reply, kind: str) -> None:
        runtime = self._channel.runtime
        assert runtime.sessions is not None
        last = await store.last_inbound(runtime.sessions, address)
        if store.window_open(last, runtime.clock(), MARGIN):
            try:
                await self._free_form(address, reply, kind)
                return
            except WhatsAppError as exc:
                if exc.code != OUTSIDE_WINDOW:
                    raise
                log.info("whatsapp: %s refused with 131047; sending the template", kind)
        await self._template(address, kind, reply.facts)

    async def _free_form(self, address: str, reply: Reply, kind: str) -> None:
        language = self._channel.runtime.config.shop.languages[0]
        for message in render(reply, language):
            wamid = await self._channel.send(address, message, tracker=store.TRACKER + kind)
            status, error = await self._record(
                wamid, address, kind, template=False, facts=reply.facts
            )
            if status == "failed" and str(OUTSIDE_WINDOW) in error:  # its webhook came first
                raise WhatsAppError(OUTSIDE_WINDOW, error, 200)

    async def _template(self, address: str, kind: str, facts: tuple[str, ...]) -> None:
        template = self._channel.settings.templates.get(kind)
        if template is None or not facts:
            await self._no_template(address, kind)
            raise Undeliverable(
                f"outside WhatsApp's 24-hour window and no template for {kind!r} "
                "in [whatsapp.templates]"
            )
        payload = {
            "name": template.name,
            "language": {"code": template.language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": f} for f in facts]}
            ],
        }
        template_message = Outgoing("template", payload)
        wamid = await self._channel.send(address, template_message, tracker=store.TRACKER + kind)
        await self._record(wamid, address, kind, template=True, facts=facts)

    async def _record(
        self, wamid: str, address: str, kind: str, *, template: bool, facts: tuple[str, ...]
    ) -> tuple[str, str]:
        runtime = self._channel.runtime
        assert runtime.sessions is not None
        return await store.record_sent(
            runtime.sessions,
            wamid,
            address,
            kind,
            template=template,
            facts=facts,
            now=runtime.clock(),
        )

    async def _no_template(self, address: str, kind: str) -> None:
        """The merchants hear of it, once a day per kind (never about their own notices)."""
        runtime = self._channel.runtime
        if kind == NOTICE_KIND or runtime.sessions is None:
            return
        merchants = [m for m in runtime.shop.merchants if m.address != address]
        t = texts.translator(runtime.config.shop.languages[0])
        text = t(
            "WhatsApp: a {kind} notice could not be sent: the customer last wrote more than "
            "24 hours ago and [whatsapp.templates] has no approved template for {kind}."
        ).format(kind=kind)
        await store.tell_merchants_once_a_day(
            runtime.sessions, merchants, f"no_template:{kind}", text, runtime.clock()
        )

    def _read(self, exc: WhatsAppError) -> Exception:
        if exc.code == PAIR_RATE:
            return RetryLater(PAIR_WAIT, str(exc))
        if exc.code in THROUGHPUT:
            self._paused_until = time.monotonic() + self._pause
            wait, self._pause = self._pause, min(self._pause * 2, PAUSE_MAX)
            return RetryLater(wait, str(exc))
        if exc.code in PERMANENT or exc.code == OUTSIDE_WINDOW:
            return Undeliverable(str(exc))
        return exc  # transient: the worker retries with back-off

    async def on_status(self, status: Status) -> None:
        """A status webhook: forward only; a free-form message failed for the window falls
        back to its template once."""
        runtime = self._channel.runtime
        assert runtime.sessions is not None
        error = "; ".join(f"{code}: {title}" for code, title in status.errors)
        row = await store.move_status(
            runtime.sessions, status, error, runtime.clock(), runtime.read_sessions
        )
        if row is None or status.status != "failed":
            return
        log.warning("whatsapp: message %s (%s) failed: %s", status.wamid, row.kind, error)
        codes = {code for code, _ in status.errors}
        if OUTSIDE_WINDOW in codes and not row.template:
            facts = tuple(json.loads(row.params)) if row.params else ()
            try:
                await self._template(row.address, row.kind, facts)
            except (Undeliverable, WhatsAppError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("whatsapp: no template fallback for %s: %s", status.wamid, exc)
