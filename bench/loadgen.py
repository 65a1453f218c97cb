"""A lean HTTP/1.1 load generator: raw asyncio connections, keep-alive, one request in flight
per connection, as a gateway's callback sender would have.

On a two-core machine the load generator shares the cores with the server it measures. An
aiohttp client spends about 220 us of CPU per request, this one about 60, so the figures say
more about the server and less about the load.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self._buffer[:head_end].lower()
        end = head_end + 4 + _content_length(head)
        if len(self._buffer) < end:
            return
        status = int(head[9:12])
        self._buffer = self._buffer[end:]
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed the connection"))

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self._waiter


def _content_length(head: bytes) -> int:
    at = head.find(b"content-length:")
    if at < 0:
        return 0
    line_end = head.find(b"\r\n", at)
    return int(head[at + 15 : line_end if line_end > 0 else None])


def raw_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send_all(
    host: str,
    port: int,
    path: str,
    requests: list[tuple[bytes, dict[str, str]]],
    rate: float | None,
    concurrency: int = 64,
) -> dict[str, Any]:
    """rate None: as fast as `concurrency` connections allow. Else open loop: request i is due
    at start + i/rate and its latency counts from then, also while it waits for a connection
    (no coordinated omission)."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(concurrency):
        _, connection = await loop.create_connection(_Connection, host, port)
        idle.put_nowait(connection)
    raws = [raw_post(host, port, path, body, headers) for body, headers in requests]
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(raw: bytes, due: float | None) -> None:
        connection = await idle.get()
        due = due if due is not None else time.perf_counter()
        try:
            statuses.append(await connection.request(raw))
        finally:
            idle.put_nowait(connection)
        latencies.append(time.perf_counter() - due)

    start = time.perf_counter()
    tasks = []
    for i, raw in enumerate(raws):
        due = start + i / rate if rate else None
        if due is not None and (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(raw, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        transport = idle.get_nowait().transport
        if transport is not None:
            transport.close()
    latencies.sort()
    return {
        "count": len(raws),
        "elapsed": elapsed,
        "failures": sum(status != 200 for status in statuses),
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }
