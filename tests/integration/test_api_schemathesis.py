"""schemathesis against the running app's /api/openapi.json: no 5xx, and no answer (status,
content type, body, headers) that the document does not describe.

It runs the schemathesis command line in a subprocess (all its phases: examples, coverage,
fuzzing, and stateful chains along the document's links) while this test's event loop serves
the app; the subprocess keeps schemathesis's own warnings out of our filterwarnings=error.
Bounded by --max-examples and a fixed seed, so every run tries the same cases.

positive_data_acceptance is left out: it expects every schema-valid request to succeed, and
no document can say which SKUs are in the catalog or which phone numbers exist, so a valid
but unknown SKU rightly gets 422. Everything else runs, including negative_data_rejection
(what the document forbids, the API refuses) and ignored_auth.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bot.api.guard import API, TokenBuckets
from tests.integration.apikit import TOKEN, api_config, start_api

MAX_EXAMPLES = 20
GUARD_SECONDS = 300  # only against a hung run; schemathesis itself takes well under a minute


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url), http)
    api.running.server.app[API].limits = TokenBuckets(burst=1e9, per_second=1e9)  # one fast client
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", api.running.url("/api/openapi.json")),
        *("--header", f"Authorization: Bearer {TOKEN}"),
        *("--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--workers", "1"),
        *("--exclude-checks", "positive_data_acceptance"),
        *("--generation-database", "none", "--request-timeout", "10", "--no-color"),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), GUARD_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-8000:]
    assert "12 selected / 12 total" in report, report[-8000:]
