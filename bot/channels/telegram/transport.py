"""python-telegram-bot's HTTP transport on aiohttp instead of httpx.

PTB lets the network layer be swapped (`telegram.request.BaseRequest`). Ours is aiohttp,
which the rest of the app already uses: measured here, one Bot API call costs about a third
of the CPU time of PTB's httpx transport, and the chat answers at hundreds of updates a
second spend most of their time in those calls (bench/chat.py).

The Bot API URL holds the token, so no error raised from here mentions the URL.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_READ: Final = 5.0
DEFAULT_CONNECT: Final = 5.0
DEFAULT_POOL: Final = 1.0
MEDIA_READ: Final = 20.0  # uploads (a QR code, a CSV export) may take longer


class AiohttpRequest(BaseRequest):
    def __init__(self, *, pool_size: int = 64, read_timeout: float = DEFAULT_READ) -> None:
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        files = request_data.multipart_data if request_data else None
        read_default = MEDIA_READ if files else self._read_timeout
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_seconds(pool_timeout, DEFAULT_POOL + DEFAULT_CONNECT),
            sock_connect=_seconds(connect_timeout, DEFAULT_CONNECT),
            sock_read=_seconds(read_timeout, read_default),
        )
        return await self._fetch(method, url, timeout, data=_body(request_data))

    async def post_json(self, url: str, params: dict[str, Any]) -> tuple[int, bytes]:
        """One JSON call (bot/channels/telegram/lean.py), with do_request's timeouts and errors."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=DEFAULT_POOL + DEFAULT_CONNECT,
            sock_connect=DEFAULT_CONNECT,
            sock_read=self._read_timeout,
        )
        return await self._fetch("POST", url, timeout, json=params)

    async def _fetch(
        self, method: str, url: str, limits: aiohttp.ClientTimeout, **body: Any
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        try:
            async with self._session.request(
                method, url, timeout=limits, headers={"User-Agent": self.USER_AGENT}, **body
            ) as response:
                return response.status, await response.read()
        except TimeoutError:
            raise TimedOut() from None
        except (aiohttp.ClientError, OSError) as exc:  # the message, without the URL
            detail = _without(str(exc), url)
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {detail}") from None


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields as PTB encodes them (nested values as JSON); files make it multipart."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return fields
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form


def _seconds(value: Any, default: float) -> float | None:
    """PTB's timeouts: a number, None for no limit, or its "not given" marker."""
    if value is None or isinstance(value, int | float):
        return value
    return default


def _without(text: str, url: str) -> str:
    for secret in (url, urlsplit(url).path):
        if secret:
            text = text.replace(secret, "<Bot API URL>")
    return text
