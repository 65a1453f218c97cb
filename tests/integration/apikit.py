"""A client for the HTTP API of the whole app on a real port (tests/integration/test_api*.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp
from multidict import CIMultiDictProxy

from bot.app import create_app
from bot.config import Api, Config
from bot.runtime import RUNTIME, utcnow
from storage.db import transaction
from tests.conftest import Running, free_port, make_config

TOKEN: Final = "test-api-token"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER: Final = {"name": "Siti Rahma", "phone": "081234567890", "telegram_chat_id": 1001}


def api_config(db_url: str, *, token: str = TOKEN, poller: bool = False, **sandbox: Any) -> Config:
    """The shipped config with the API on; the poller off unless asked, so that only the
    test decides when a gateway is asked."""
    config = make_config(db_url, free_port(), **sandbox)
    reconcile = replace(config.reconcile, enabled=poller)
    return replace(config, api=Api(token=token), reconcile=reconcile)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: CIMultiDictProxy[str] = field(repr=False)


class Clock:
    """The app's clock, turned by hand from the real now (the sandbox keeps real time)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class ApiClient:
    running: Running
    http: aiohttp.ClientSession
    clock: Clock

    @property
    def runtime(self) -> Any:
        return self.running.runtime

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        auth: bool = True,
    ) -> Answer:
        sent = {**(AUTH if auth else {}), **(headers or {})}
        json_body = body if data is None else None
        async with self.http.request(
            method, self.running.url(path), json=json_body, data=data, headers=sent
        ) as response:
            text = await response.text()
            parsed = await response.json(content_type=None) if text else None
            return Answer(response.status, parsed, response.headers)

    async def place(self, *lines: tuple[str, int], **fields: Any) -> dict[str, Any]:
        """An order through the API (two Kopi Susu for Siti on Telegram unless told)."""
        items = [{"sku": s, "quantity": q} for s, q in lines or [("KOPI-SUSU", 2)]]
        answer = await self.call(
            "POST", "/api/orders", {"items": items, "customer": CUSTOMER, **fields}
        )
        assert answer.status == 201, answer.body
        return dict(answer.body)

    async def pay_with(self, code: str, method: str = "sandbox:va:bca") -> dict[str, Any]:
        answer = await self.call("POST", f"/api/orders/{code}/payments", {"method": method})
        assert answer.status == 201, answer.body
        return dict(answer.body)

    async def rows(self, statement: Any) -> list[Any]:
        async with transaction(self.runtime.sessions) as session:
            return list((await session.execute(statement)).all())


async def start_api(
    aiohttp_server: Any, config: Config, http: aiohttp.ClientSession, clock: Clock | None = None
) -> ApiClient:
    clock = clock or Clock()
    app = create_app(config, clock=clock)
    server = await aiohttp_server(app, port=config.server.port)
    return ApiClient(Running(server, app[RUNTIME]), http, clock)
