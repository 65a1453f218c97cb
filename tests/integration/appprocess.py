"""The real service (`python -m bot run`) in a subprocess, to be killed with SIGKILL and
started again on the same database: what a crash does, without pretending inside the process.

Used by tests/integration/test_crash_*.py. The config is the shipped config.toml with the
test's database, a free port and whatever text replacements the test asks for; secrets come in
through the environment as in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import aiohttp

from tests.conftest import ROOT, free_port

TOKEN: Final = "crash-test-api-token"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}
START_TIMEOUT: Final = 60.0


def write_config(
    folder: Path, db_url: str, port: int, replacements: Mapping[str, str] | None = None
) -> Path:
    """config.toml for the subprocess: the shipped one pointed at this database and port."""
    text = (ROOT / "config.toml").read_text()
    for old, new in {
        "sqlite+aiosqlite:///checkout.db": db_url,
        "port = 8080": f"port = {port}",
        "http://127.0.0.1:8080": f"http://127.0.0.1:{port}",
        **(replacements or {}),
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "config.toml"
    path.write_text(text)
    return path


class AppProcess:
    """One instance of the service; `start` again after `kill` is a restart."""

    def __init__(
        self,
        folder: Path,
        db_url: str,
        *,
        replacements: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        name: str = "app",
    ) -> None:
        self.port = free_port()
        self.config = write_config(folder, db_url, self.port, replacements)
        self.log = folder / f"{name}.log"
        self.env = {**os.environ, "CHECKOUT_API_TOKEN": TOKEN, **(env or {})}
        self._process: asyncio.subprocess.Process | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        """Spawn and wait until /healthz answers (the schema and catalog are in by then)."""
        assert self._process is None, "still running"
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(self.config),
                "run",
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        await self._wait_up()

    async def _wait_up(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                assert self._process is not None
                if self._process.returncode is not None:
                    raise AssertionError(f"the app exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(self.url("/healthz")) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the app did not start: {self.log.read_text()[-2000:]}")

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, no goodbye; what is not committed is gone."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()
        self._process = None

    async def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), 30)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        self._process = None
