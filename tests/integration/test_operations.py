"""What an operator relies on while the service runs: request ids in and out of every HTTP
answer and in the log lines, the log format of [logging], scheduler jobs by name, and the
Idempotency-Key sweep. Real HTTP, a real database, the real CLI where it is the CLI's."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from bot.logs import ContextFilter
from storage.models import IdempotencyKey
from tests.conftest import ROOT, Running, free_port, make_config, start_app
from tests.integration.test_startup import block_of


async def test_an_answer_carries_the_callers_request_id_or_a_new_one(running: Running) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(running.url("/healthz"), headers={"X-Request-Id": "lb-7f3a"}) as r:
            assert r.headers["X-Request-Id"] == "lb-7f3a"
        async with http.get(running.url("/healthz")) as fresh:
            made = fresh.headers["X-Request-Id"]
        async with http.get(
            running.url("/healthz"), headers={"X-Request-Id": "a b;" + "x" * 200}
        ) as bad:
            assert len(bad.headers["X-Request-Id"]) == 16 and bad.headers["X-Request-Id"] != made
        async with http.get(running.url("/nowhere"), headers={"X-Request-Id": "lb-404"}) as gone:
            assert gone.status == 404 and gone.headers["X-Request-Id"] == "lb-404"
        async with http.get(running.url("/api/orders"), headers={"X-Request-Id": "lb-api"}) as a:
            assert a.status in (401, 404) and a.headers["X-Request-Id"] == "lb-api"
    assert len(made) == 16 and int(made, 16) >= 0


async def test_json_logs_name_the_request_in_each_line(tmp_path: Path) -> None:
    port = free_port()
    text = (ROOT / "config.toml").read_text()
    text = text.replace('format = "text"', 'format = "json"').replace(
        "port = 8080", f"port={port}"
    )
    text = text.replace("sqlite+aiosqlite:///checkout.db", f"sqlite+aiosqlite:///{tmp_path}/s.db")
    (tmp_path / "config.toml").write_text(text)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(tmp_path),
        env={**os.environ},
    )
    try:
        await block_of(process)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/healthz"
            async with http.get(url, headers={"X-Request-Id": "trace-42"}) as response:
                assert response.status == 200
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [json.loads(line) for line in err.decode().splitlines()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert access and access[0]["request_id"] == "trace-42" and "/healthz" in access[0]["message"]
    assert {"time", "level", "logger", "message"} <= set(access[0])


class Kept(logging.Handler):
    """Records as our handler sees them: through bot/logs.py's ContextFilter."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_the_sweep_deletes_idempotency_keys_older_than_a_day_and_logs_by_job_name(
    aiohttp_server: object, db_url: str
) -> None:
    config = make_config(db_url, free_port())
    config = replace(config, reconcile=replace(config.reconcile, enabled=True))
    app = await start_app(aiohttp_server, config)
    runtime = app.runtime
    assert runtime.jobs is not None and runtime.sessions is not None
    names = {job.name for job in runtime.jobs.get_jobs()}
    expected = {"reconcile", "expire_orders", "callback_outage", "idempotency_keys"}
    assert names == expected | {"refunds_unanswered"}  # the daily summary is off in tests
    now = datetime.now(UTC)
    async with runtime.sessions() as session, session.begin():
        for key, age in [("old-1", 25), ("old-2", 24.01), ("fresh", 23)]:
            session.add(
                IdempotencyKey(
                    key=key,
                    request_hash="0" * 64,
                    status=201,
                    body="{}",
                    created_at=now - timedelta(hours=age),
                )
            )
    kept, logger = Kept(), logging.getLogger("bot.scheduler")
    level = logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)
    try:
        runtime.jobs.get_job("idempotency_keys").modify(next_run_time=datetime.now(UTC))
        for _ in range(200):
            async with runtime.sessions() as session:
                left = set(await session.scalars(select(IdempotencyKey.key)))
            if left == {"fresh"} and kept.records:
                break
            await asyncio.sleep(0.05)
    finally:
        logger.removeHandler(kept)
        logger.setLevel(level)
    assert left == {"fresh"}
    swept = [r for r in kept.records if "idempotency" in r.getMessage()]
    assert swept and swept[0].job == "idempotency_keys"  # type: ignore[attr-defined]
    assert "deleted 2 keys" in swept[0].getMessage()
