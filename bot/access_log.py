"""The server's access log, minus one line per accepted gateway callback or chat update.

At thousands of callbacks a second, aiohttp's access line (a timestamp formatted per request,
then a log record) cost a sixth of the server's CPU in bench/callbacks.py. An accepted
callback leaves its payment event row (body, outcome, verified), an INFO line when it changed
a status and a count in /metrics; refused ones (4xx, 5xx) are still logged here as well. With
DEBUG logging every request is logged as before. The same holds for Telegram's webhook: an
accepted update is counted in /metrics (chat updates handled) and answered in the chat.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_log import AccessLogger

from bot.logs import REQUEST_ID

QUIET_WHEN_ACCEPTED = ("/callbacks/", "/telegram/webhook")
REQUEST_ID_HEADER = "X-Request-Id"  # set on every answer by bot/request_id.py


class QuietAccessLogger(AccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if (
            response.status == 200
            and request.path.startswith(QUIET_WHEN_ACCEPTED)
            and not self.logger.isEnabledFor(logging.DEBUG)
        ):
            return
        token = REQUEST_ID.set(response.headers.get(REQUEST_ID_HEADER))  # names the request
        try:
            super().log(_without_token(request), response, time)
        finally:
            REQUEST_ID.reset(token)


def _without_token(request: web.BaseRequest) -> web.BaseRequest:
    """/callbacks/<gateway>/<token>: the token is a per-payment secret (payments/gateways/mpesa/),
    so the line shows the route, not the token."""
    parts = request.path.split("/")
    if len(parts) == 4 and parts[1] == "callbacks":
        return request.clone(rel_url=f"/callbacks/{parts[2]}/***")
    return request


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse as an ERROR with a traceback; anyone can send
    one, so it is one WARNING line instead (aiohttp has already answered it 400)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            first = str(error.message).strip().splitlines()[0] if error.message else ""
            record.msg, record.args = "malformed HTTP request (%s): %.120s", (error.code, first)
            record.exc_info = record.exc_text = None
        return True


def quiet_malformed_requests() -> None:
    """Install MalformedRequests once on aiohttp's server logger."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())
