"""A thin Graph API client for the WhatsApp Cloud API on the app's one aiohttp session.

Why not pywa or another library: docs/channels/whatsapp.md (one HTTP stack, tolerant parsing,
base URL from config for the fake in tests). Graph errors come back as `WhatsAppError` with
Meta's numeric code; transport trouble (timeouts, connection errors) is raised as aiohttp's own
exceptions, which the callers read as transient. The access token goes in a header only and
never into an exception's text.
"""

from __future__ import annotations

import json
from typing import Any, Final

import aiohttp

TIMEOUT: Final = aiohttp.ClientTimeout(total=15, connect=5)


class WhatsAppError(Exception):
    """Meta refused a call: `code` is the Graph error code (131047, 131056, 130429, ...)."""

    def __init__(self, code: int, title: str, status: int) -> None:
        super().__init__(f"whatsapp error {code}: {title}")
        self.code = code
        self.title = title
        self.status = status


def recipient(address: str) -> dict[str, str]:
    """Phone digits go in `to`; a business-scoped user id (`ID.123...`) in `recipient`."""
    if address.isascii() and address.isdigit():
        return {"to": address}
    return {"recipient": address}


class GraphClient:
    def __init__(
        self, http: aiohttp.ClientSession, *, api_url: str, phone_number_id: str, token: str
    ) -> None:
        self._http = http
        self._base = f"{api_url.rstrip('/')}/{phone_number_id}"
        self._auth = {"Authorization": f"Bearer {token}"}

    async def send(
        self, address: str, kind: str, payload: dict[str, Any], tracker: str = ""
    ) -> str:
        """One message; returns its wamid."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **recipient(address),
            "type": kind,
            kind: payload,
        }
        if tracker:
            body["biz_opaque_callback_data"] = tracker[:512]
        data = await self._call("/messages", json=body)
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return str(messages[0].get("id") or "")
        return ""

    async def upload(self, content: bytes, mime: str, filename: str) -> str:
        """Media for an image or document message; returns the media id (kept 30 days)."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime)
        form.add_field("file", content, filename=filename, content_type=mime)
        data = await self._call("/media", data=form)
        return str(data.get("id") or "")

    async def mark_read(self, wamid: str, *, typing: bool = True) -> None:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self._call("/messages", json=body)

    async def _call(self, path: str, **kw: Any) -> dict[str, Any]:
        async with self._http.post(
            self._base + path, headers=self._auth, timeout=TIMEOUT, **kw
        ) as response:
            raw = await response.read()
            status = response.status
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if status >= 400:
            raise _error(data, status)
        return data


def _error(data: dict[str, Any], status: int) -> WhatsAppError:
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    assert isinstance(error, dict)
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    title = str(error.get("message") or f"HTTP {status}")[:300]
    return WhatsAppError(code, title, status)
