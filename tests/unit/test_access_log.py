"""Accepted callbacks and chat updates leave no access line; everything else still does."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.access_log import QuietAccessLogger


def logged(path: str, status: int, level: int = logging.INFO) -> list[str]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(f"test.access.{path}.{status}.{level}")
    logger.setLevel(level)
    logger.addHandler(handler)
    access = QuietAccessLogger(logger, "%r %s")
    access.log(make_mocked_request("POST", path), web.Response(status=status), 0.001)
    return [r.getMessage() for r in records]


@pytest.mark.parametrize("path", ["/callbacks/sandbox", "/telegram/webhook"])
def test_an_accepted_callback_or_update_is_not_logged(path: str) -> None:
    assert logged(path, 200) == []


@pytest.mark.parametrize(
    ("path", "status"),
    [("/callbacks/sandbox", 401), ("/telegram/webhook", 403), ("/api/orders", 200)],
)
def test_refusals_and_other_routes_are_logged(path: str, status: int) -> None:
    [line] = logged(path, status)
    assert path in line and str(status) in line


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_a_callback_urls_token_never_reaches_the_log(level: int) -> None:
    token = "A7K2Q901.0123456789abcdef0123456789abcdef"
    for status in (200, 400, 503):
        for line in logged(f"/callbacks/mpesa/{token}", status, level):
            assert token not in line and "/callbacks/mpesa/***" in line


def test_debug_logs_every_request() -> None:
    [line] = logged("/callbacks/sandbox", 200, logging.DEBUG)
    assert "/callbacks/sandbox" in line


async def test_a_malformed_request_is_one_warning_line_without_a_traceback(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.access_log import quiet_malformed_requests

    quiet_malformed_requests()
    server = await aiohttp_server(web.Application())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 10)).split()[1] == b"400"
        writer.close()
        await asyncio.sleep(0.05)
    mine = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelname, r.exc_info) for r in mine] == [("WARNING", None)]
    assert "malformed HTTP request (400)" in mine[0].getMessage()
