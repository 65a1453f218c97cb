"""Just enough of the Telegram Bot API for our adapter, over real HTTP: `/bot{token}/{method}`.

It remembers every call, keeps the messages the bot sent (so a test can tap their buttons),
serves getUpdates with offset and long-poll timeout, and, once setWebhook was called, POSTs
pushed updates to the webhook with the secret header, as Telegram does. Tests push text,
commands, taps and contacts, and inject errors (429 with retry_after, 403 blocked, 400).
Answers follow the examples in shared/channels/examples/telegram/.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

TOKEN: Final = "7000000001:TEST-fake-token_abcdefghijklmnop"
BOT_USER: Final = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "Warung Bot",
    "username": "warung_checkout_bot",
}
SENDS: Final = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText")
JSON_FIELDS: Final = ("reply_markup", "allowed_updates", "link_preview_options", "entities")
INT_FIELDS: Final = ("chat_id", "message_id", "offset", "limit", "timeout")
BLOCKED: Final = "Forbidden: bot was blocked by the user"


@dataclass
class Call:
    """One request the bot made, with its parameters decoded and its files' bytes."""

    seq: int
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (filename, data)
    status: int = 200
    at: float = field(default_factory=time.perf_counter)  # when it arrived
    via_webhook_reply: bool = False  # given as a webhook's answer, not a request of its own

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: float | None = None
    chat_id: int | None = None  # None: any chat


class FakeBotAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.url = ""  # where it listens, once served: the bot's api_url
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # what each chat shows
        self.touched: dict[tuple[int, int], int] = {}  # message -> seq of its last change
        self.blocked: set[int] = set()
        self.webhook: dict[str, Any] | None = None
        self.webhook_answers: list[int] = []
        self.pushed = 0  # updates delivered or queued so far
        self.last_shown: dict[int, int] = {}  # chat -> the newest message the bot sent there
        self.listeners: list[Callable[[Call], None]] = []  # told of each call once answered
        self._failures: dict[str, deque[Failure]] = {}
        self._held: asyncio.Event | None = None  # see hold()
        self._pending: list[dict[str, Any]] = []  # for getUpdates
        self._update_ids = itertools.count(900_000_001)
        self._message_ids = itertools.count(100)
        self._callback_ids = itertools.count(4_382_000_000_000_000_001)
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/bot{token}/{method}", self._handle)
        self.http: aiohttp.ClientSession | None = None

    # ---- steering ------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        description: str = "",
        *,
        retry_after: float | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) answer this error."""
        text = description or {429: "Too Many Requests: retry after 1", 400: "Bad Request"}.get(
            status, "Internal Server Error"
        )
        queue = self._failures.setdefault(method, deque())
        queue.extend(Failure(status, text, retry_after, chat_id) for _ in range(times))

    def hold(self) -> None:
        """From now on a send is shown (it counts in `sent`) but not answered until `release`:
        the instant in which a bot killed cannot know that its message went out."""
        self._held = asyncio.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()
        self._held = None

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to them is a 403."""
        self.blocked.add(chat_id)

    async def text(self, chat_id: int, text: str, **user: Any) -> int:
        message = self._message_from(chat_id, user, text=text)
        if text.startswith("/"):
            length = len(text.split(" ")[0])
            message["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
        return await self.push({"message": message})

    async def contact(
        self, chat_id: int, phone: str, *, user_id: int | None = None, **user: Any
    ) -> int:
        card = {"phone_number": phone, "first_name": "Ana", "user_id": user_id or chat_id}
        return await self.push({"message": self._message_from(chat_id, user, contact=card)})

    async def tap(
        self, chat_id: int, data: str, message_id: int | None = None, **user: Any
    ) -> int:
        """Press a button: on `message_id`, or on the newest message that shows `data`."""
        return await self.push(self.tap_update(chat_id, data, message_id, **user))

    def tap_update(
        self, chat_id: int, data: str, message_id: int | None = None, **user: Any
    ) -> dict[str, Any]:
        """A callback query, to push (once or more); a message we do not know reads as gone."""
        key = (chat_id, message_id) if message_id else self.message_with(chat_id, data)
        shown = self.messages.get(key) if key else None
        message = shown or {"message_id": message_id or 1, "date": 0, "chat": _chat(chat_id)}
        query = {
            "id": str(next(self._callback_ids)),
            "from": _user(chat_id, user),
            "message": message,
            "chat_instance": f"-{chat_id}",
            "data": data,
        }
        return {"callback_query": query}

    async def push(self, payload: dict[str, Any], update_id: int | None = None) -> int:
        """Deliver an update: to the webhook if one is set, else for getUpdates."""
        update = {"update_id": update_id or next(self._update_ids), **payload}
        self.pushed += 1
        if self.webhook is not None:
            await self._deliver(update)
        else:
            self._pending.append(update)
            await self._notify()
        return int(update["update_id"])

    # ---- reading -------------------------------------------------------------------------------

    def sent(self, chat_id: int | None = None, *, after: int = 0) -> list[Call]:
        """What the bot showed (sent or edited), oldest first, after call number `after`."""
        return [
            c
            for c in self.calls
            if c.method in SENDS and c.status == 200 and c.seq > after
            if chat_id is None or c.chat_id == chat_id
        ]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    @property
    def last_seq(self) -> int:
        return self.calls[-1].seq if self.calls else 0

    def message_with(self, chat_id: int, prefix: str, after: int = 0) -> tuple[int, int] | None:
        """The newest message in the chat with a button whose data starts with `prefix`."""
        for key in sorted(self.messages, key=lambda k: self.touched[k], reverse=True):
            if key[0] != chat_id or self.touched[key] <= after:
                continue
            for row in (self.messages[key].get("reply_markup") or {}).get("inline_keyboard", []):
                if any(str(b.get("callback_data", "")).startswith(prefix) for b in row):
                    return key
        return None

    def button(self, key: tuple[int, int], prefix: str) -> str:
        markup = self.messages[key].get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for b in row:
                if str(b.get("callback_data", "")).startswith(prefix):
                    return str(b["callback_data"])
        raise KeyError(prefix)

    async def wait_for(self, condition: Callable[[], Any], within: float = 10.0) -> Any:
        """Until `condition()` is truthy (checked after every call the bot makes)."""
        async with self._changed:
            return await asyncio.wait_for(self._changed.wait_for(condition), within)

    # ---- the API -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read(request)
        call = Call(next(self._seq), method, params, files)
        self.calls.append(call)
        await self._notify()
        try:
            response = await self._answer(call)
            call.status = response.status
        finally:
            await self._notify()
        held = self._held
        if held is not None and call.method in SENDS:
            await held.wait()
        for listener in self.listeners:
            listener(call)
        return response

    async def _answer(self, call: Call) -> web.Response:
        failure = self._failure_for(call)
        if failure is not None:
            return _error(failure.status, failure.description, failure.retry_after)
        if call.chat_id in self.blocked and call.method in SENDS:
            return _error(403, BLOCKED)
        handler = getattr(self, f"_api_{call.method}", None)
        if handler is None:
            return _error(404, "Not Found")
        result = handler(call) if call.method != "getUpdates" else await handler(call)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    def _failure_for(self, call: Call) -> Failure | None:
        queue = self._failures.get(call.method)
        for failure in list(queue or ()):
            if failure.chat_id is None or failure.chat_id == call.chat_id:
                assert queue is not None
                queue.remove(failure)
                return failure
        return None

    def _api_getMe(self, call: Call) -> Any:
        return BOT_USER

    def _api_setWebhook(self, call: Call) -> Any:
        self.webhook = dict(call.params)
        return True

    def _api_deleteWebhook(self, call: Call) -> Any:
        self.webhook = None
        if call.params.get("drop_pending_updates") in (True, "true", "True"):
            self._pending.clear()
        return True

    def _api_answerCallbackQuery(self, call: Call) -> Any:
        return True

    async def _api_getUpdates(self, call: Call) -> Any:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(call.params.get("offset") or 0)
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        limit = int(call.params.get("limit") or 100)
        timeout = float(call.params.get("timeout") or 0)
        if not self._pending and timeout > 0:
            async with self._changed:
                waiting = self._changed.wait_for(lambda: bool(self._pending))
                with contextlib.suppress(TimeoutError):  # an empty answer, as Telegram gives
                    await asyncio.wait_for(waiting, timeout)
        return self._pending[:limit]

    def _api_sendMessage(self, call: Call) -> Any:
        return self._show(call, {"text": call.params.get("text", "")})

    def _api_sendPhoto(self, call: Call) -> Any:
        size = len(call.files.get("photo", ("", b""))[1])
        sizes = [{"file_id": "AgACAgUAAxkDAAFAKE-large", "file_unique_id": "AQADlarge",
                  "file_size": size, "width": 400, "height": 400}]  # fmt: skip
        return self._show(call, {"photo": sizes, "caption": call.params.get("caption")})

    def _api_sendDocument(self, call: Call) -> Any:
        filename, data = call.files.get("document", ("file", b""))
        document = {"file_id": "BQACAgUAAxkDAAFAKE-doc", "file_unique_id": "AQADdoc",
                    "file_name": filename, "file_size": len(data)}  # fmt: skip
        return self._show(call, {"document": document, "caption": call.params.get("caption")})

    def _api_editMessageText(self, call: Call) -> Any:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        shown = self.messages.get(key)
        if shown is None or "text" not in shown:
            return _error(400, "Bad Request: message to edit not found")
        markup = _inline(call.params.get("reply_markup"))
        if shown["text"] == call.params.get("text") and shown.get("reply_markup") == markup:
            return _error(400, "Bad Request: message is not modified: specified new message "
                          "content and reply markup are exactly the same")  # fmt: skip
        shown.update(text=call.params.get("text"), edit_date=int(time.time()))
        shown.pop("reply_markup", None)
        if markup:
            shown["reply_markup"] = markup
        self.touched[key] = call.seq
        return shown

    def _api_editMessageReplyMarkup(self, call: Call) -> Any:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        shown = self.messages.get(key)
        if shown is None:
            return _error(400, "Bad Request: message to edit not found")
        shown["reply_markup"] = _inline(call.params.get("reply_markup"))
        self.touched[key] = call.seq
        return shown

    def _show(self, call: Call, content: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(call.params["chat_id"])
        message_id = next(self._message_ids)
        message = {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **{k: v for k, v in content.items() if v},
        }
        markup = _inline(call.params.get("reply_markup"))
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message_id)] = message
        self.touched[(chat_id, message_id)] = call.seq
        self.last_shown[chat_id] = message_id
        return message

    # ---- delivery ------------------------------------------------------------------------------

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self.webhook is not None
        if self.http is None:
            self.http = aiohttp.ClientSession()
        headers = {"X-Telegram-Bot-Api-Secret-Token": str(self.webhook.get("secret_token", ""))}
        async with self.http.post(str(self.webhook["url"]), json=update, headers=headers) as resp:
            self.webhook_answers.append(resp.status)
            reply = await resp.read()
        if resp.status == 200 and reply:
            await self._run_webhook_reply(json.loads(reply))

    async def _run_webhook_reply(self, params: dict[str, Any]) -> None:
        """Telegram runs a method given as the webhook's answer (its result is not returned)."""
        method = str(params.pop("method"))
        call = Call(next(self._seq), method, params, {}, via_webhook_reply=True)
        self.calls.append(call)
        call.status = (await self._answer(call)).status
        await self._notify()
        for listener in self.listeners:
            listener(call)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def close(self) -> None:
        self.release()
        if self.http is not None:
            await self.http.close()

    def _message_from(self, chat_id: int, user: dict[str, Any], **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "from": _user(chat_id, user),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **content,
        }


def _user(user_id: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "id", **extra}


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private" if chat_id > 0 else "group", "first_name": "Ana"}


def _inline(markup: Any) -> dict[str, Any] | None:
    """Only inline keyboards stay on a message; reply keyboards live in the client."""
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _error(status: int, description: str, retry_after: float | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Form, multipart or JSON, as PTB and the real API allow; nested objects decoded."""
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    kind = request.content_type
    if kind == "application/json":
        params = dict(await request.json())
    elif kind == "multipart/form-data":
        async for part in await request.multipart():
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                files[part.name] = (part.filename, bytes(await part.read()))
            else:
                params[part.name] = await part.text()
    elif request.can_read_body:
        params = dict(await request.post())
    for name in JSON_FIELDS:
        if isinstance(params.get(name), str):
            params[name] = json.loads(params[name])
    for name in INT_FIELDS:
        if isinstance(params.get(name), str) and params[name].lstrip("-").isdigit():
            params[name] = int(params[name])
    return params, files
