"""Daraja over HTTP: the OAuth token every call shares, and answers turned into our errors.

Apart from adapter.py so that the adapter reads as the flow of a payment. One token serves
every request until shortly before its hour is up; when Daraja calls it invalid anyway, one
new token is fetched and the call is made once more.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from typing import Any, Final

import aiohttp

from payments.base import GatewayRejected, GatewayUnavailable
from payments.gateways.http import retry_after
from payments.gateways.parsing import json_object_or_none, text_field

NAME: Final = "mpesa"
# The STK query's error answers while the prompt is still open on the phone. The exact code is
# UNCONFIRMED; the wording is what guides and SDKs show. It says nothing about the customer
# having acted, so the adapter reads it as pending and the poller asks again.
STILL_OPEN_CODES: Final = frozenset({"500.001.1001"})
STILL_OPEN_WORDS: Final = "being processed"
BAD_TOKEN_CODE: Final = "404.001.04"  # "Invalid Access Token" (UNCONFIRMED HTTP status)
TOKEN_MARGIN: Final = 300.0  # seconds before its expiry that a cached token is replaced


class DarajaClient:
    """One Daraja app's credentials; never shows them in an error."""

    name: Final = NAME

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        timeout: float,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._http, self._base = http, base_url.rstrip("/")
        basic = base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode()
        self._basic = "Basic " + basic
        self._secrets = tuple(s for s in (consumer_key, consumer_secret, *secrets) if s)
        self._timeout_s = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._token: tuple[str, float] | None = None  # access token, monotonic expiry
        self._token_lock = asyncio.Lock()

    async def _access_token(self) -> str:
        """One token for every request until shortly before it expires; one fetch at a time."""
        async with self._token_lock:
            cached = self._token
            if cached is not None and time.monotonic() < cached[1]:
                return cached[0]
            path = "/oauth/v1/generate?grant_type=client_credentials"
            _, data = await self._call("GET", path, None, self._basic, self._timeout)
            token = text_field(data.get("access_token"), blank_is_none=True)
            if token is None:
                raise GatewayUnavailable(NAME, "oauth: answer without access_token")
            life = _seconds(data.get("expires_in"))
            self._token = token, time.monotonic() + max(life - TOKEN_MARGIN, life / 2)
            return token

    async def post(
        self, path: str, body: Mapping[str, Any], *, query: bool = False, patience: int = 1
    ) -> tuple[int, dict[str, Any]]:
        """A call with the cached token; on Daraja's "invalid token", one more with a new
        token. A query's still-open answer comes back as its status code, not an error."""
        limit = aiohttp.ClientTimeout(total=self._timeout_s * patience)
        token = await self._access_token()
        try:
            return await self._call("POST", path, body, f"Bearer {token}", limit, query)
        except _StaleToken:
            token = await self._fresh_token(token)
            return await self._call("POST", path, body, f"Bearer {token}", limit, query)

    async def _fresh_token(self, stale: str) -> str:
        """A new token, unless another request has replaced the stale one meanwhile."""
        if self._token is not None and self._token[0] != stale:
            return self._token[0]
        self._token = None
        return await self._access_token()

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        auth: str,
        limit: aiohttp.ClientTimeout,
        query: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """One HTTP exchange. Transport trouble and error codes become our errors."""
        what = f"{method} {path.split('?')[0]}"
        headers = {"Authorization": auth, "Accept": "application/json"}
        try:
            async with self._http.request(
                method, self._base + path, json=body, headers=headers, timeout=limit
            ) as resp:
                raw, code = await resp.read(), resp.status
                retry = resp.headers.get("Retry-After", "")
        except (TimeoutError, aiohttp.ClientError) as exc:  # not chained: aiohttp keeps headers
            raise GatewayUnavailable(NAME, f"{what}: {type(exc).__name__}") from None
        data = json_object_or_none(raw) or {}
        error = text_field(data.get("errorCode")) or ""
        if query and code != 200 and _still_open(error, data):
            return code, data
        if auth.startswith("Bearer") and (code == 401 or error == BAD_TOKEN_CODE):
            raise _StaleToken(NAME, what)
        if code == 429 or code >= 500:
            raise GatewayUnavailable(NAME, f"{what}: {code} {error}", retry_after(retry))
        if code >= 400:
            text = f"{error} {data.get('errorMessage', '')}"[:200]
            raise GatewayRejected(NAME, f"{what}: {code} {self.scrub(text)}")
        return code, data

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class _StaleToken(GatewayUnavailable):
    """Daraja refused our cached access token: fetch another and ask once more."""


def _still_open(error: str, data: Mapping[str, Any]) -> bool:
    words = str(data.get("errorMessage", "")).lower()
    return error in STILL_OPEN_CODES or STILL_OPEN_WORDS in words


def _seconds(value: object) -> float:
    """expires_in, which Daraja sends as a string ("3599"); an hour when unreadable."""
    try:
        seconds = float(str(value))
    except ValueError:
        return 3600.0
    return seconds if 60 <= seconds <= 86400 else 3600.0
