"""Replies as Bot API calls: HTML text, inline keyboards, photos, documents, the phone button.

The renderer owns Telegram's limits: text over 4096 characters is split on line breaks, a
caption over 1024 becomes a photo followed by the text, a reply keyboard (the phone button)
never shares a message with an inline keyboard, and an edit that Telegram refuses becomes a
new message (except "message is not modified", which means it is already right).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, NetworkError
from telegram.ext import ExtBot

from bot import texts
from bot.channels.split import split_text as split_pieces
from bot.channels.telegram.lean import LeanBotAPI
from bot.conversation.replies import Reply

log = logging.getLogger(__name__)

MAX_TEXT: Final = MessageLimit.MAX_TEXT_LENGTH  # 4096
MAX_CAPTION: Final = MessageLimit.CAPTION_LENGTH  # 1024
ONE_ROW_UP_TO: Final = 3  # more choices than this: one per row
RETRY_PAUSE: Final = 0.5  # seconds before the second try; doubles
_MONO: Final = re.compile(r"`([^`\n]+)`")
_BOLD: Final = re.compile(r"\*([^*\n]+)\*")
NOT_MODIFIED: Final = "message is not modified"
NO_PREVIEW: Final = LinkPreviewOptions(is_disabled=True)
_HTML_NO_PREVIEW: Final = {"parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def to_html(text: str) -> str:
    """Our *bold* and `mono` marks as Telegram HTML; everything else escaped."""
    parts = []
    for index, piece in enumerate(_MONO.split(text)):
        escaped = html.escape(piece, quote=False)
        if index % 2:  # inside a `mono` mark: no bold in there
            parts.append(f"<code>{escaped}</code>")
        else:
            parts.append(_BOLD.sub(r"<b>\1</b>", escaped))
    return "".join(parts)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Within Telegram's limit unless told (bot/channels/split.py)."""
    return split_pieces(text, limit)


def inline_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """A link on its own row first, then the choices: in one row up to three, else one each."""
    rows: list[list[InlineKeyboardButton]] = []
    if reply.link is not None:
        rows.append([InlineKeyboardButton(reply.link.label, url=reply.link.url)])
    buttons = [InlineKeyboardButton(c.label, callback_data=c.id) for c in reply.choices]
    if len(buttons) <= ONE_ROW_UP_TO:
        rows += [buttons] if buttons else []
    else:
        rows += [[button] for button in buttons]
    return InlineKeyboardMarkup(rows) if rows else None


def phone_keyboard(language: str) -> ReplyKeyboardMarkup:
    """Telegram shares the sender's own contact from this button (private chats only)."""
    t = texts.translator(language)
    label = "📱 " + t("Share my phone number")
    return ReplyKeyboardMarkup(
        [[KeyboardButton(label, request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


@dataclass(frozen=True, slots=True)
class Tapped:
    """The message a tapped button sits on: where `Reply.edit` applies."""

    chat_id: int
    message_id: int
    has_text: bool


@dataclass(frozen=True, slots=True)
class How:
    """How hard to try. `attempts`: tries per call on transient failures (network, 5xx), for
    a chat answer that has nowhere else to go; the outbox retries rows itself, so it asks
    for one. `rate_limit_args`: the rate limiter's retries on 429 (None: the bot's own)."""

    attempts: int = 3
    rate_limit_args: int | None = None


@dataclass(frozen=True, slots=True)
class _To:
    chat_id: int
    language: str
    how: How
    remove_keyboard: bool = False


class TelegramRenderer:
    def __init__(self, bot: ExtBot[Any], lean: LeanBotAPI | None = None) -> None:
        self.bot = bot
        self.lean = lean  # text to private chats goes this way when given (lean.py)
        # Chats shown the phone button, until we take it away again. Per process: in a
        # cluster another instance may answer, and then the (one-time) button lingers.
        self._phone_shown: set[int] = set()

    async def send_all(
        self,
        chat_id: int,
        replies: Sequence[Reply],
        *,
        language: str = "en",
        tapped: Tapped | None = None,
        how: How = How(),
    ) -> None:
        replies, remove_at = self._phone_button_plan(chat_id, list(replies))
        for index, reply in enumerate(replies):
            to = _To(chat_id, language, how, remove_keyboard=index == remove_at)
            if reply.edit and tapped is not None and not to.remove_keyboard:
                edited = await self._edit(tapped, reply, how)
                tapped = None  # one edit per answer: the rest are new messages
                if edited:
                    continue
            await self._send(to, reply)

    async def send(
        self, chat_id: int, reply: Reply, *, language: str = "en", how: How = How()
    ) -> None:
        await self._send(_To(chat_id, language, how), reply)

    async def _send(self, to: _To, reply: Reply) -> None:
        if reply.request_phone:
            self._phone_shown.add(to.chat_id)
        if reply.image is not None:
            await self._photo(to, reply)
        elif reply.document is not None:
            await self._document(to, reply)
        else:
            await self._text(to, reply)

    async def _text(self, to: _To, reply: Reply) -> None:
        """The text in as many messages as it needs; the keyboard goes on the last one."""
        *before, last = split_text(reply.text)
        for piece in before:
            await self._message(to, piece, None)
        inline = inline_keyboard(reply)
        if reply.request_phone and inline is not None:
            await self._message(to, last, inline)
            t = texts.translator(to.language)
            label = "⬇️ " + t("Share my phone number")
            await self._message(to, label, phone_keyboard(to.language))
        elif reply.request_phone:
            await self._message(to, last, phone_keyboard(to.language))
        elif to.remove_keyboard and inline is None:
            await self._message(to, last, ReplyKeyboardRemove())
        else:
            await self._with_link_fallback(to, last, reply, inline)

    async def _with_link_fallback(
        self, to: _To, text: str, reply: Reply, markup: Markup | None
    ) -> None:
        """Telegram refuses URL buttons it cannot open (a local test address): then the link
        goes into the text instead."""
        try:
            await self._message(to, text, markup)
        except BadRequest as exc:
            if reply.link is None or "url" not in exc.message.lower():
                raise
            log.warning("telegram: link button refused (%s); sending the link as text", exc)
            text = f"{text}\n{reply.link.label}: {reply.link.url}"
            await self._message(to, text, inline_keyboard(replace(reply, link=None)))

    async def _message(self, to: _To, text: str, markup: Markup | None) -> None:
        if self.lean is not None and to.chat_id > 0:
            params = {"chat_id": to.chat_id, "text": to_html(text), **_HTML_NO_PREVIEW}
            if markup is not None:
                params["reply_markup"] = markup.to_dict()
            await self._call(to.how, self.lean.call, "sendMessage", params)
            return
        await self._call(
            to.how,
            self.bot.send_message,
            to.chat_id,
            to_html(text),
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        )

    async def _photo(self, to: _To, reply: Reply) -> None:
        image = reply.image
        assert image is not None
        photo: str | bytes = image.data if image.data is not None else (image.url or "")
        fits = len(reply.text) <= MAX_CAPTION and not reply.request_phone
        await self._call(
            to.how,
            self.bot.send_photo,
            to.chat_id,
            photo,
            caption=to_html(reply.text) if fits else None,
            parse_mode=ParseMode.HTML,
            reply_markup=inline_keyboard(reply) if fits else None,
            filename=image.filename,
        )
        if not fits:
            await self._text(to, replace(reply, image=None))

    async def _document(self, to: _To, reply: Reply) -> None:
        assert reply.document is not None
        filename, content = reply.document
        fits = len(reply.text) <= MAX_CAPTION and not reply.request_phone
        if not fits:
            await self._text(to, replace(reply, document=None))
        await self._call(
            to.how,
            self.bot.send_document,
            to.chat_id,
            content,
            filename=filename,
            caption=to_html(reply.text) if fits else None,
            parse_mode=ParseMode.HTML,
            reply_markup=inline_keyboard(reply) if fits else None,
        )

    async def _edit(self, tapped: Tapped, reply: Reply, how: How) -> bool:
        """Replace the tapped message; False when it cannot be, so a new one is sent."""
        editable = tapped.has_text and len(reply.text) <= MAX_TEXT
        if not editable or reply.image or reply.document or reply.request_phone:
            return False
        try:
            await self._edit_text(tapped, reply, how)
        except BadRequest as exc:
            if NOT_MODIFIED in exc.message.lower():
                return True  # already shows exactly this (a double tap)
            log.info("telegram: edit refused (%s); sending a new message", exc.message)
            return False
        return True

    async def _edit_text(self, tapped: Tapped, reply: Reply, how: How) -> None:
        markup = inline_keyboard(reply)
        if self.lean is not None and tapped.chat_id > 0:
            params = {
                "chat_id": tapped.chat_id,
                "message_id": tapped.message_id,
                "text": to_html(reply.text),
                **_HTML_NO_PREVIEW,
            }
            if markup is not None:
                params["reply_markup"] = markup.to_dict()
            await self._call(how, self.lean.call, "editMessageText", params)
            return
        await self._call(
            how,
            self.bot.edit_message_text,
            to_html(reply.text),
            chat_id=tapped.chat_id,
            message_id=tapped.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        )

    @staticmethod
    async def _call(
        how: How, method: Callable[..., Awaitable[Any]], *args: Any, **kw: Any
    ) -> None:
        for attempt in range(1, how.attempts + 1):
            try:
                await method(*args, rate_limit_args=how.rate_limit_args, **kw)
                return
            except BadRequest:
                raise  # our request is wrong: again would be wrong again
            except NetworkError as exc:  # TimedOut, 5xx: may go through the next time
                if attempt >= how.attempts:
                    raise
                log.info("telegram: %s (try %d), trying again", exc.message, attempt)
                await asyncio.sleep(RETRY_PAUSE * 2 ** (attempt - 1))

    def _phone_button_plan(
        self, chat_id: int, replies: list[Reply]
    ) -> tuple[list[Reply], int | None]:
        """After the phone question the next answer takes the button away: on its first
        message without buttons, else on the head of its first multi-line message, which is
        split off the last line (the one the buttons belong to). Returns the replies to send
        and which of them carries the removal."""
        if chat_id not in self._phone_shown or any(r.request_phone for r in replies):
            return replies, None
        self._phone_shown.discard(chat_id)
        for index, reply in enumerate(replies):
            if _plain(reply):
                return replies, index
        for index, reply in enumerate(replies):
            head, _, tail = reply.text.strip().rpartition("\n")
            if head.strip() and reply.image is None and reply.document is None:
                split = [Reply(head), replace(reply, text=tail, edit=False)]
                return [*replies[:index], *split, *replies[index + 1 :]], index
        return replies, None


def _plain(reply: Reply) -> bool:
    """Nothing but text: the message can carry a reply-keyboard removal."""
    return not (reply.choices or reply.link or reply.image or reply.document or reply.edit)
