"""`checkout-bot run` as an operator starts it: the start-up block, and a channel that cannot
start in one line with exit 1. A real process, a fake Bot API over real HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.channels.telegram.fake import TOKEN, FakeBotAPI
from tests.conftest import ROOT, free_port

SECRETS = {
    "MIDTRANS_SERVER_KEY": "SB-Mid-server-startup-test",
    "CHECKOUT_SANDBOX_SECRET": "sandbox-secret-startup-test",
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-startup-test",
}


def production_like(tmp_path: Path, port: int, api_url: str, *, api_token: str = "") -> Path:
    text = (ROOT / "config.toml").read_text()
    for old, new in [
        ("[payments.sandbox]\nenabled = false", "[payments.sandbox]\nenabled = true"),
        ("allow_with_real_gateways = false", "allow_with_real_gateways = true"),
        ("[payments.midtrans]\nenabled = false", "[payments.midtrans]\nenabled = true"),
        ("[telegram]\nenabled = false", "[telegram]\nenabled = true"),
        ('mode = "polling"', 'mode = "webhook"'),
        ('api_url = "https://api.telegram.org"', f'api_url = "{api_url}"'),
        ("port = 8080", f"port = {port}"),
        ('public_url = "http://127.0.0.1:8080"', f'public_url = "http://127.0.0.1:{port}"'),
        ("sqlite+aiosqlite:///checkout.db", f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"),
        ('token = "${CHECKOUT_API_TOKEN:-}"', f'token = "{api_token}"'),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@asynccontextmanager
async def running(config: Path, token: str) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, **SECRETS, "TELEGRAM_BOT_TOKEN": token}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(config.parent),
        env=env,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def block_of(process: asyncio.subprocess.Process) -> list[str]:
    """stdout up to and with the `serving on` line."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("serving on"):
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line, "run exited early: " + "".join(lines)
        lines.append(line.decode().rstrip("\n"))
    return lines


async def test_run_prints_shop_database_channels_gateways_with_callback_urls_and_warnings(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    fake = FakeBotAPI()
    fake.url = str((await aiohttp_server(fake.app)).make_url("")).rstrip("/")
    port = free_port()
    config = production_like(tmp_path, port, fake.url)
    async with running(config, TOKEN) as process:
        lines = await block_of(process)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as health,
        ):
            assert health.status == 200
    public = f"http://127.0.0.1:{port}"
    text = "\n".join(lines)
    assert lines[0].startswith("checkout-bot ") and "Warung Kopi Nusantara (IDR" in lines[0]
    assert f"  database   sqlite+aiosqlite:///{tmp_path / 'shop.db'} (SQLite" in text
    assert f"    telegram   webhook {public}/telegram/webhook" in lines
    assert "    whatsapp   off" in lines
    assert "    midtrans   methods link, va:bca, va:bni, va:bri, va:permata, qris" in lines
    assert f"               callback URL {public}/callbacks/midtrans" in lines
    assert f"               callback URL {public}/callbacks/sandbox" in lines
    warnings = [line for line in lines if line.startswith("    ! ")]
    assert any("sandbox is on next to midtrans" in w for w in warnings)
    assert any(f"public_url is {public}, which midtrans, telegram cannot" in w for w in warnings)
    assert any("api.token is empty" in w for w in warnings)
    assert all(secret not in text for secret in [*SECRETS.values(), TOKEN])
    assert fake.webhook is not None and fake.webhook["url"] == f"{public}/telegram/webhook"


async def test_a_public_https_shop_with_a_real_gateway_and_the_api_on_gets_no_warnings(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    fake = FakeBotAPI()
    fake.url = str((await aiohttp_server(fake.app)).make_url("")).rstrip("/")
    port = free_port()
    config = production_like(tmp_path, port, fake.url, api_token="an-api-token-for-the-test")
    text = config.read_text().replace(f'public_url = "http://127.0.0.1:{port}"', PUBLIC_LINE)
    config.write_text(text.replace("enabled = true\nallow_with", "enabled = false\nallow_with"))
    async with running(config, TOKEN) as process:
        lines = await block_of(process)
    assert "  warnings" not in lines, lines
    assert "  api        on at https://shop.example.com/api/ (bearer token)" in "\n".join(lines)
    assert "    telegram   webhook https://shop.example.com/telegram/webhook" in lines
    assert "               callback URL https://shop.example.com/callbacks/midtrans" in lines


PUBLIC_LINE = 'public_url = "https://shop.example.com"'


async def test_a_refused_telegram_token_is_one_line_and_exit_1(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    fake = FakeBotAPI()
    fake.url = str((await aiohttp_server(fake.app)).make_url("")).rstrip("/")
    config = production_like(tmp_path, free_port(), fake.url)
    wrong = "7000000001:WRONG-token_abcdefghijklmnopqrs"
    async with running(config, wrong) as process:
        _, err = await asyncio.wait_for(process.communicate(), 60)
    errors = err.decode()
    assert process.returncode == 1, errors
    assert "Traceback" not in errors and wrong not in errors
    assert errors.splitlines()[-1] == (
        f"checkout-bot: telegram: cannot start the bot: telegram.token was refused by {fake.url}"
    )


async def test_an_unreachable_bot_api_is_one_line_and_exit_1(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    config = production_like(tmp_path, free_port(), nobody)
    async with running(config, TOKEN) as process:
        _, err = await asyncio.wait_for(process.communicate(), 60)
    errors = err.decode()
    assert process.returncode == 1, errors
    assert "Traceback" not in errors and TOKEN not in errors
    last = errors.splitlines()[-1]
    assert last.startswith(f"checkout-bot: telegram: cannot start the bot: {nobody}: ")
