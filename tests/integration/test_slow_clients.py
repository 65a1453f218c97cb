"""A client that sends its request slowly is cut off after `[server] read_timeout`
(bot/server.py): headers that never end, a body that never arrives. The server is started the
way `checkout-bot run` starts it, with handler_options."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from bot.app import create_app
from bot.server import handler_options
from tests.conftest import free_port, make_config

READ_TIMEOUT = 1


@pytest.fixture
async def port(db_url: str) -> AsyncIterator[int]:
    config = make_config(db_url, free_port())
    config = replace(config, server=replace(config.server, read_timeout=READ_TIMEOUT))
    runner = web.AppRunner(create_app(config), **handler_options(READ_TIMEOUT))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config.server.port).start()
    yield config.server.port
    await runner.cleanup()


async def _dribble(
    writer: asyncio.StreamWriter, data: bytes, reader: asyncio.StreamReader
) -> bytes:
    """Send one byte every 0.2 s until the server answers or closes; what it said."""
    for byte in data:
        if reader.at_eof():
            break
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            break
        await asyncio.sleep(0.2)
    return await asyncio.wait_for(reader.read(), 10)


async def test_headers_that_never_end_lose_the_connection(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    endless = b"X-Slow: " + b"a" * 200  # 40 s at one byte per 0.2 s, never a blank line
    started = asyncio.get_running_loop().time()
    answer = await _dribble(writer, endless, reader)
    elapsed = asyncio.get_running_loop().time() - started
    writer.close()
    assert answer == b""  # closed without an answer: it never sent a request
    assert elapsed < 20, elapsed  # a liveness bound: without the timeout, about an hour


async def test_a_body_that_never_arrives_gets_408(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /callbacks/sandbox HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"408", status_line


async def test_a_request_sent_in_time_is_answered(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"200", status_line
