"""bench/chaos.py, briefly, in CI so that it cannot rot: a few orders on SQLite, one SIGKILL,
every invariant 0 (the script exits 1 otherwise). .ci/run also runs `bench/chaos.py --short`."""

from __future__ import annotations

import asyncio
import sys

from tests.conftest import ROOT


async def test_a_short_chaos_run_keeps_every_invariant() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "chaos.py"),
        "--orders",
        "20",
        "--kills",
        "1",
        "--concurrency",
        "5",
        "--seed",
        "11",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 600)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    assert "lost=0 wrong=0 forged_accepted=0 5xx=0 secrets_in_log=0" in text
