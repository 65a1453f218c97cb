"""Just enough of Meta's Graph API (WhatsApp Cloud API) for our channel, over real HTTP:
`POST /{version}/{phone_number_id}/messages` and `/media`.

It enforces what Meta enforces: the bearer token (190), our phone number id in the path, the
interactive message limits (131009, as Meta answers them), the pair rate per recipient
(131056, a token bucket), throughput per number (130429), the 24-hour window (a free-form
message outside it is accepted and then fails in a signed `failed` status webhook with
131047, as Meta does), approved templates and their parameter count (132001, 132000), and
media ids that were uploaded. It remembers every message, and it plays the customers: it
POSTs their messages to our webhook signed with the app secret, and statuses back after
each send. Answers and payloads follow shared/channels/examples/whatsapp/.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

TOKEN: Final = "EAAG-fake-system-user-token"
APP_SECRET: Final = "made-up-app-secret-0123456789abcdef"
VERIFY_TOKEN: Final = "verify-token-of-the-tests"
NUMBER_ID: Final = "109876543210987"
DISPLAY_NUMBER: Final = "6281100000000"
VERSION: Final = "v23.0"
WINDOW: Final = 24 * 3600.0
BUTTON_TYPES: Final = {"button", "list", "cta_url", "request_contact_info"}


class Refused(Exception):
    def __init__(self, code: int, message: str, details: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.details, self.status = code, message, details, status


@dataclass
class Sent:
    """One message the bot sent, as the fake accepted it."""

    seq: int
    to: str
    type: str
    payload: dict[str, Any]
    wamid: str
    at: float = field(default_factory=time.perf_counter)  # when it arrived

    @property
    def text(self) -> str:
        p = self.payload
        if self.type == "text":
            return str(p.get("body", ""))
        if self.type in ("image", "document"):
            return str(p.get("caption", ""))
        if self.type == "interactive":
            return str(p.get("body", {}).get("text", ""))
        if self.type == "template":
            params = p.get("components", [{}])[0].get("parameters", [])
            return f"[template {p.get('name')}] " + " | ".join(x["text"] for x in params)
        return ""

    @property
    def choice_ids(self) -> list[str]:
        if self.type != "interactive":
            return []
        action = self.payload.get("action", {})
        if self.payload.get("type") == "button":
            return [b["reply"]["id"] for b in action.get("buttons", [])]
        if self.payload.get("type") == "list":
            return [r["id"] for s in action.get("sections", []) for r in s.get("rows", [])]
        return []


@dataclass
class Bucket:
    tokens: float
    at: float


class FakeGraphAPI:
    def __init__(self) -> None:
        self.url = ""  # where it listens, once served
        self.webhook_url = ""  # our webhook: customers' messages and statuses go there
        self.sent: list[Sent] = []
        self.refusals: list[tuple[str, int]] = []  # (to, code) of every refused send
        self.read_marks: list[str] = []
        self.media: dict[str, bytes] = {}
        self.templates: dict[tuple[str, str], int] = {("payment_confirmed", "id"): 3}
        self.last_inbound: dict[str, float] = {}  # customer -> when they last wrote
        self.pair_burst = 60.0  # messages a customer may get at once before 131056
        self.pair_every = 6.0  # seconds per message sustained
        self.per_second = 80  # throughput per number before 130429
        self.throttle_next = 0  # steer: refuse this many sends with 130429
        self.window_sync = False  # steer: refuse outside the window at once, not by webhook
        self.send_statuses = True
        self.webhook_answers: list[int] = []
        self.posted = 0  # events posted to our webhook (messages and statuses)
        self.listeners: list[Callable[[Sent], None]] = []  # told of every accepted send
        self.trackers: dict[str, str] = {}  # wamid -> biz_opaque_callback_data, echoed
        self._buckets: dict[str, Bucket] = {}
        self._recent: list[float] = []
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post("/{version}/{number}/messages", self._messages),
                web.post("/{version}/{number}/media", self._media),
            ]
        )

    @property
    def api_url(self) -> str:
        return f"{self.url}/{VERSION}"

    async def close(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    # ---- the Graph API ---------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        to = ""
        try:
            self._check_caller(request)
            body = await request.json()
            if body.get("status") == "read":
                self.read_marks.append(str(body.get("message_id")))
                return web.json_response({"success": True})
            to = self._check_envelope(body)
            kind = body["type"]
            payload = body.get(kind)
            if not isinstance(payload, dict):
                raise Refused(100, "Invalid parameter", f"{kind} object missing")
            check_message(kind, payload, self.media)
            self._check_template(kind, payload)
            self._check_pace(to)
        except Refused as exc:
            self.refusals.append((to, exc.code))
            return error_response(exc)
        outside = kind != "template" and not self.inside_window(to)
        if outside and self.window_sync:
            self.refusals.append((to, 131047))
            return error_response(Refused(131047, "Re-engagement message"))
        wamid = f"wamid.OUT.{next(self._ids):04d}"
        sent = Sent(len(self.sent) + 1, to, kind, payload, wamid)
        self.trackers[wamid] = str(body.get("biz_opaque_callback_data") or "")
        self.sent.append(sent)
        for listener in self.listeners:
            listener(sent)
        if outside:
            self._later(self.post_status(wamid, to, "failed", errors=[_window_error()]))
        elif self.send_statuses:
            self._later(self.post_status(wamid, to, "sent"))
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            }
        )

    async def _media(self, request: web.Request) -> web.Response:
        try:
            self._check_caller(request)
            form = await request.post()
        except Refused as exc:
            return error_response(exc)
        file = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not hasattr(file, "file"):
            return error_response(Refused(100, "Invalid parameter", "file and product needed"))
        content = file.file.read()  # type: ignore[union-attr]
        if len(content) > 5 * 1024 * 1024 or form.get("type") not in (
            "image/png",
            "image/jpeg",
            "text/csv",
        ):
            return error_response(Refused(131053, "Media upload error"))
        media_id = str(1357913579 + len(self.media))
        self.media[media_id] = content
        return web.json_response({"id": media_id})

    def _check_caller(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise Refused(190, "Invalid OAuth access token.", status=401)
        if request.match_info["number"] != NUMBER_ID:
            raise Refused(100, "Unsupported post request: unknown phone number id")

    @staticmethod
    def _check_envelope(body: Any) -> str:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            raise Refused(100, "Invalid parameter", "messaging_product must be whatsapp")
        to = body.get("to") or body.get("recipient")
        if not isinstance(to, str) or not to:
            raise Refused(100, "Invalid parameter", "to is required")
        return to

    def _check_template(self, kind: str, payload: dict[str, Any]) -> None:
        if kind != "template":
            return
        key = (payload.get("name"), (payload.get("language") or {}).get("code"))
        count = self.templates.get(key)  # type: ignore[arg-type]
        if count is None:
            raise Refused(132001, "Template name does not exist in the translation")
        params = [p for c in payload.get("components", []) for p in c.get("parameters", [])]
        if len(params) != count:
            raise Refused(132000, "Number of parameters does not match the expected number")

    def _check_pace(self, to: str) -> None:
        now = time.monotonic()
        self._recent = [t for t in self._recent if t > now - 1.0]
        if self.throttle_next > 0 or len(self._recent) >= self.per_second:
            self.throttle_next = max(self.throttle_next - 1, 0)
            raise Refused(130429, "Rate limit hit")
        bucket = self._buckets.setdefault(to, Bucket(self.pair_burst, now))
        bucket.tokens = min(self.pair_burst, bucket.tokens + (now - bucket.at) / self.pair_every)
        bucket.at = now
        if bucket.tokens < 1:
            raise Refused(131056, "(Business Account, Consumer Account) pair rate limit hit")
        bucket.tokens -= 1
        self._recent.append(now)

    def inside_window(self, to: str) -> bool:
        last = self.last_inbound.get(to)
        return last is not None and time.time() - last < WINDOW

    # ---- the customers' side: webhooks to the bot ---------------------------------------------

    async def push(self, value: dict[str, Any], *, body: bytes | None = None) -> int:
        """POST one change value to our webhook, signed; returns the HTTP status."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": NUMBER_ID},
            **value,
        }
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "200000000000001", "changes": [{"value": value, "field": "messages"}]}
            ],
        }
        raw = body if body is not None else json.dumps(envelope).encode()
        self.posted += len(value.get("messages", [])) + len(value.get("statuses", []))
        return await self.post_raw(raw, signature(APP_SECRET, raw))

    async def post_raw(self, raw: bytes, header: str | None) -> int:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers["X-Hub-Signature-256"] = header
        async with self._http.post(self.webhook_url, data=raw, headers=headers) as response:
            self.webhook_answers.append(response.status)
            return response.status

    def message(
        self,
        wa_id: str,
        kind: str,
        content: dict[str, Any],
        *,
        name: str = "Ana",
        message_id: str | None = None,
        context: str | None = None,
    ) -> dict[str, Any]:
        """A change value with one inbound message; the customer's window opens."""
        self.last_inbound[wa_id] = time.time()
        message: dict[str, Any] = {
            "from": wa_id,
            "id": message_id or f"wamid.IN.{next(self._ids):04d}",
            "timestamp": str(int(time.time())),
            "type": kind,
            **({kind: content} if content else {}),
        }
        if context:
            message["context"] = {"from": DISPLAY_NUMBER, "id": context}
        if not wa_id.isdigit():  # a username-only customer: a business-scoped id, no number
            message["from_user_id"] = message.pop("from")
            contact = {"profile": {"name": name, "username": "@ana"}, "user_id": wa_id}
            return {"contacts": [contact], "messages": [message]}
        return {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}

    async def post_status(
        self, wamid: str, to: str, status: str, errors: list[Any] | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": to,
        }
        if errors:
            entry["errors"] = errors
        if self.trackers.get(wamid):
            entry["biz_opaque_callback_data"] = self.trackers[wamid]
        await self.push({"contacts": [{"wa_id": to}], "statuses": [entry]})

    def _later(self, work: Any) -> None:
        if not self.webhook_url:
            work.close()
            return
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Until the status webhooks it has started are posted."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- reading what the bot sent ------------------------------------------------------------

    def to(self, wa_id: str, after: int = 0) -> list[Sent]:
        return [s for s in self.sent if s.to == wa_id and s.seq > after]

    @property
    def last_seq(self) -> int:
        return len(self.sent)

    async def wait_for(self, found: Callable[[], Any], within: float = 10.0) -> Any:
        deadline = time.monotonic() + within
        while not (result := found()):
            assert time.monotonic() < deadline, "the bot did not send it in time"
            await asyncio.sleep(0.005)
        return result


def signature(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def _window_error() -> dict[str, Any]:
    return {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "the customer's last message is older than 24 hours"},
    }


def error_response(exc: Refused) -> web.Response:
    body = {
        "error": {
            "message": exc.message,
            "type": "OAuthException",
            "code": exc.code,
            "error_data": {"messaging_product": "whatsapp", "details": exc.details},
            "fbtrace_id": "AbCdEfGh125",
        }
    }
    return web.json_response(body, status=exc.status)


# ---- the payload limits (Meta answers 131009) -------------------------------------------------


def _limit(ok: bool, details: str) -> None:
    if not ok:
        raise Refused(131009, "(#131009) Parameter value is not valid", details)


def check_message(kind: str, payload: dict[str, Any], media: dict[str, bytes]) -> None:
    if kind == "text":
        body = payload.get("body")
        _limit(isinstance(body, str) and 0 < len(body) <= 4096, "text body length invalid")
    elif kind in ("image", "document"):
        _check_media(payload, media)
        _limit(len(payload.get("caption", "")) <= 1024, "caption too long")
    elif kind == "interactive":
        check_interactive(payload, media)
    elif kind != "template":
        raise Refused(131051, "Unsupported message type")


def _check_media(media_obj: Any, media: dict[str, bytes]) -> None:
    _limit(isinstance(media_obj, dict), "media object missing")
    if "id" in media_obj:
        if media_obj["id"] not in media:
            raise Refused(131053, "Media upload error", "unknown media id")
    else:
        link = media_obj.get("link")
        _limit(isinstance(link, str) and link.startswith(("http://", "https://")), "media link")


def check_interactive(p: dict[str, Any], media: dict[str, bytes]) -> None:
    kind = p.get("type")
    _limit(kind in BUTTON_TYPES, f"interactive type {kind!r}")
    body = (p.get("body") or {}).get("text")
    _limit(isinstance(body, str) and 0 < len(body) <= 1024, "body text length invalid")
    header = p.get("header")
    if header is not None:
        _limit(kind == "button" or header.get("type") == "text", "media header on this type")
        if header.get("type") == "image":
            _check_media(header.get("image"), media)
        elif header.get("type") == "text":
            _limit(0 < len(header.get("text", "")) <= 60, "header text length invalid")
    action = p.get("action") or {}
    if kind == "button":
        _check_buttons(action.get("buttons"))
    elif kind == "list":
        _check_list(action)
    elif kind == "cta_url":
        params = action.get("parameters") or {}
        _limit(action.get("name") == "cta_url", "cta_url action name")
        _limit(0 < len(params.get("display_text", "")) <= 20, "display_text length invalid")
        _limit(str(params.get("url", "")).startswith(("http://", "https://")), "url invalid")


def _check_buttons(buttons: Any) -> None:
    _limit(isinstance(buttons, list) and 1 <= len(buttons) <= 3, "1 to 3 buttons")
    titles, ids = [], []
    for b in buttons:
        reply = b.get("reply") or {}
        title, bid = reply.get("title", ""), reply.get("id", "")
        _limit(b.get("type") == "reply", "button type")
        _limit(0 < len(title) <= 20, "Button title length invalid")
        _limit(0 < len(bid) <= 256 and bid == bid.strip(), "Button id invalid")
        titles.append(title)
        ids.append(bid)
    _limit(len(set(titles)) == len(titles) and len(set(ids)) == len(ids), "buttons not unique")


def _check_list(action: dict[str, Any]) -> None:
    _limit(0 < len(action.get("button", "")) <= 20, "list button label length invalid")
    sections = action.get("sections")
    _limit(isinstance(sections, list) and 1 <= len(sections) <= 10, "1 to 10 sections")
    rows = [r for s in sections for r in s.get("rows", [])]
    _limit(1 <= len(rows) <= 10, "1 to 10 rows in total")
    if len(sections) > 1:
        _limit(all(0 < len(s.get("title", "")) <= 24 for s in sections), "section titles")
    ids = [r.get("id", "") for r in rows]
    _limit(len(set(ids)) == len(ids), "row ids not unique")
    for r in rows:
        _limit(0 < len(r.get("id", "")) <= 200, "row id length invalid")
        _limit(0 < len(r.get("title", "")) <= 24, "row title length invalid")
        _limit(len(r.get("description", "")) <= 72, "row description length invalid")
