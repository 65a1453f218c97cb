"""How long a client may take to send its request: the header and body read timeouts.

aiohttp waits for a request's headers as long as its keep-alive timeout (3630 s unless told),
and for its body as long as the client keeps the connection open, so a stranger who sends one
byte every few seconds holds a connection and its memory for an hour. Here both have a
deadline, `[server] read_timeout`:

- headers: aiohttp's keep-alive timer starts when a connection opens and again after every
  answer, and closes a connection that has not delivered a whole request by then, so
  `keepalive_timeout=read_timeout` is the header timeout (and the idle keep-alive timeout);
- body: `read_body_in_time` reads every request body, up to `client_max_size`, before the
  handler runs, and answers 408 when it has not arrived in time. Handlers then get the cached
  bytes from `request.read()`, `request.json()` and `request.post()`.

`checkout-bot run` and the demo both start the server with `handler_options`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.access_log import QuietAccessLogger

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handler_options(read_timeout: float) -> dict[str, Any]:
    """The keyword arguments for web.run_app / web.AppRunner that bound a slow client."""
    return {"keepalive_timeout": read_timeout, "access_log_class": QuietAccessLogger}


def read_body_in_time(read_timeout: float, max_size: int) -> Middleware:
    """A middleware: the whole body within read_timeout of the headers, or 408.

    It goes last in the app's middlewares so the API's guard still shapes a 413 from here."""

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        too_big = (request.content_length or 0) > max_size
        if request.body_exists and not too_big:  # too big: the handler refuses it by its length
            try:
                async with asyncio.timeout(read_timeout):
                    await request.read()
            except TimeoutError:
                log.warning(
                    "%s %s: body not received in %gs (408)",
                    request.method,
                    request.path,
                    read_timeout,
                )
                return web.Response(
                    status=408, text="request body timed out\n", headers={"Connection": "close"}
                )
        return await handler(request)

    return read_body
