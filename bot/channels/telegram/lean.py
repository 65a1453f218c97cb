"""Text messages and edits to private chats, straight to the Bot API as JSON.

Every answer in the chat is a sendMessage or an editMessageText, and through
python-telegram-bot each one also builds a `Message` from the answer (about half the CPU of
the call, bench/chat.py) that nothing here reads. These two calls go out on PTB's own aiohttp
transport (transport.py) and come back as PTB's errors, so the renderer and the outbox treat
them like any other call. Groups (the merchant chat may be one) keep PTB's rate limiter, which
paces them at 20 a minute; photos and documents stay with PTB too.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import timedelta
from typing import Any, Final

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.channels.telegram.transport import AiohttpRequest

REPLY_RETRIES: Final = 3  # 429s a call waits out when the caller does not say


class LeanBotAPI:
    def __init__(self, request: AiohttpRequest, base_url: str) -> None:
        self._request = request
        self._base = base_url  # ".../bot<token>": never logged, never in an error

    async def call(
        self, method: str, params: dict[str, Any], *, rate_limit_args: int | None = None
    ) -> Any:
        """The call's `result`; a 429 is waited out up to `rate_limit_args` times (as PTB's
        rate limiter reads that argument), then raised as RetryAfter."""
        retries = REPLY_RETRIES if rate_limit_args is None else rate_limit_args
        while True:
            try:
                return await self._once(method, params)
            except RetryAfter as exc:
                if retries <= 0:
                    raise
                retries -= 1
                await asyncio.sleep(retry_seconds(exc))

    async def _once(self, method: str, params: dict[str, Any]) -> Any:
        status, payload = await self._request.post_json(f"{self._base}/{method}", params)
        try:
            data = json.loads(payload)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if 200 <= status <= 299 and data.get("ok"):
            return data.get("result")
        raise error_for(status, data)


def error_for(status: int, data: dict[str, Any]) -> TelegramError:
    """The exception PTB raises for this answer (telegram/request/_baserequest.py)."""
    message = str(data.get("description") or f"HTTP {status}")
    parameters = data.get("parameters")
    if isinstance(parameters, dict):
        if parameters.get("migrate_to_chat_id"):
            return ChatMigrated(int(parameters["migrate_to_chat_id"]))
        if parameters.get("retry_after"):
            with warnings.catch_warnings():  # PTB 22 warns on making one, too
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                return RetryAfter(timedelta(seconds=float(parameters["retry_after"])))
    if status == 403:
        return Forbidden(message)
    if status in (401, 404):
        return InvalidToken(message)
    if status == 400:
        return BadRequest(message)
    if status == 409:
        return Conflict(message)
    return NetworkError(message)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns on reading it as a number
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
