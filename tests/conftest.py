"""Shared fixtures: one real ClientSession per test; fakes run on 127.0.0.1 over real HTTP."""

from collections.abc import AsyncIterator

import aiohttp
import pytest



@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session
