"""An id for every HTTP request, in its log lines and its answer's X-Request-Id header.

A caller's (or a reverse proxy's) X-Request-Id is kept when it looks like an id, so one id
follows a request through the proxy's log and ours; otherwise a new one is made. bot/logs.py
adds it to each line logged while the request is handled; the access log (bot/access_log.py)
reads it from the answer's header.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from bot.logs import REQUEST_ID

HEADER: Final = "X-Request-Id"
_LOOKS_LIKE_AN_ID: Final = re.compile(r"^[A-Za-z0-9._:+=/-]{1,128}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_id() -> str:
    return secrets.token_hex(8)


@web.middleware
async def request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(HEADER, "")
    rid = given if _LOOKS_LIKE_AN_ID.match(given) else new_id()
    token = REQUEST_ID.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[HEADER] = rid
        raise
    finally:
        REQUEST_ID.reset(token)
    if not response.prepared:
        response.headers[HEADER] = rid
    return response
