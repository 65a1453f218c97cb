"""What stands in front of every /api/ handler: the API switch, the bearer token, a rate limit,
the body size, and the translation of every failure into the API's error shape.

The token is compared in constant time, and a request without it learns nothing but 401, not
even whether the route exists. The rate limit is a token bucket per API token in this
process's memory, `[api] rate_per_second` and `burst`: a burst guard, not a quota (several
instances each allow the full rate).
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from bot.api.errors import ApiError, error_response
from payments.base import GatewayUnavailable

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
PREFIX: Final = "/api/"
PUBLIC: Final = frozenset({"/api/openapi.json"})
MAX_BODY: Final = 1024 * 1024
HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenBuckets:
    """`burst` requests at once per key, refilled at `per_second`."""

    def __init__(
        self,
        burst: float = 60,
        per_second: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """0 when the request may go; otherwise the seconds until it may."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.per_second
        self._buckets[key] = (tokens - 1, now)
        return 0.0


@dataclass
class ApiState:
    runtime: Runtime
    token: str
    limits: TokenBuckets = field(default_factory=TokenBuckets)


API = web.AppKey("api", ApiState)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        _admit(request.app[API], request)
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        return _http_error(exc)
    except (DBAPIError, OSError, TimeoutError, GatewayUnavailable) as exc:
        log.warning(
            "api: %s %s: unavailable (%s)", request.method, request.path, type(exc).__name__
        )
        return error_response(503, "unavailable", "Unavailable for a moment; try again.")
    except Exception:
        log.exception("api: %s %s failed", request.method, request.path)
        return error_response(500, "internal", "Something went wrong on our side.")


def _admit(state: ApiState, request: web.Request) -> None:
    if not state.token:
        raise ApiError(404, "api_off", "The API is off: [api] token is not set.")
    if request.path in PUBLIC:
        return
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    valid = hmac.compare_digest(given, f"Bearer {state.token}".encode())
    wait = state.limits.take("token" if valid else "anonymous")
    if wait > 0:
        retry = str(math.ceil(wait))
        raise ApiError(429, "rate_limited", "Too many requests.", headers={"Retry-After": retry})
    if not valid:
        raise ApiError(
            401,
            "unauthorized",
            "A valid bearer token is required.",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own answers (no route, wrong method, body too large) in our shape."""
    code = HTTP_CODES.get(exc.status, f"http_{exc.status}")
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    message = "The body is over 1 MiB." if exc.status == 413 else exc.reason
    return error_response(exc.status, code, message, headers=headers)


async def read_body(request: web.Request) -> bytes:
    """At most MAX_BODY bytes (the app's client_max_size says the same; this refuses early)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", "The body is over 1 MiB.")
    return await request.read()
