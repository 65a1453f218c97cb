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
from aiohttp.web_log import AccessLogger

QUIET_WHEN_ACCEPTED = ("/callbacks/", "/telegram/webhook")


class QuietAccessLogger(AccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if (
            response.status == 200
            and request.path.startswith(QUIET_WHEN_ACCEPTED)
            and not self.logger.isEnabledFor(logging.DEBUG)
        ):
            return
        super().log(request, response, time)
