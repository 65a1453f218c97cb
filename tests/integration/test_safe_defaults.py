"""What ships is safe on the internet as configured: no free payments unless an operator
turned the sandbox on, and then the start-up says so."""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import load_config
from tests.conftest import ROOT, free_port, sandbox_on, start_app

MINIMAL = re.compile(r"A minimal file:\n\n```toml\n(.*?)```", re.S)
ENV = {"TELEGRAM_BOT_TOKEN": "123:abc", "MIDTRANS_SERVER_KEY": "SB-Mid-server-x"}


def readme_minimal_config(tmp_path: Path) -> Path:
    found = MINIMAL.search((ROOT / "README.md").read_text())
    assert found, "README.md lost its minimal production config"
    path = tmp_path / "prod.toml"
    path.write_text(found.group(1))
    return path


async def test_the_readmes_production_config_offers_no_sandbox_and_serves_no_pay_page(
    tmp_path: Path, aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    config = load_config(readme_minimal_config(tmp_path), environ=ENV)
    assert [m.gateway for m in config.payments.method_ids()] == ["midtrans"] * 3
    port = free_port()
    config = replace(
        config,
        database=replace(config.database, url=db_url),
        server=replace(config.server, port=port, public_url=f"http://127.0.0.1:{port}"),
        telegram=replace(config.telegram, enabled=False),
    )
    running = await start_app(aiohttp_server, config)
    assert "sandbox" not in running.runtime.gateways
    for path in ("/sandbox/pay/AAAAAA01", "/sandbox/fail/AAAAAA01", "/sandbox/api/payments"):
        async with http.post(running.url(path)) as resp:
            assert resp.status == 404, path
    async with http.post(running.url("/callbacks/sandbox"), data=b"{}") as resp:
        assert resp.status == 404


async def test_run_warns_at_start_up_while_the_sandbox_is_on(tmp_path: Path) -> None:
    port = free_port()
    text = (
        sandbox_on((ROOT / "config.toml").read_text())
        .replace("port = 8080", f"port = {port}")
        .replace("sqlite+aiosqlite:///checkout.db", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    )
    (tmp_path / "config.toml").write_text(text)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(tmp_path / "config.toml"),
        "run",
        stderr=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines: list[bytes] = []
        while not lines or not lines[-1].startswith(b"serving on"):
            lines.append(await asyncio.wait_for(process.stdout.readline(), 60))
            assert lines[-1], lines
        warnings = [line for line in lines if line.startswith(b"    ! ")]
        assert b"sandbox gateway is ON" in warnings[0]
    finally:
        process.terminate()
        await process.wait()
