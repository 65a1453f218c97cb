"""`[api] rate_per_second` and `burst` (bot/config/sections.py Api): read from config.toml,
checked with the key named, and what the API's token bucket (bot/api/guard.py) allows."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, load_config
from tests.conftest import ROOT
from tests.integration.apikit import api_config, start_api

SHIPPED = (ROOT / "config.toml").read_text()
LIMITS = "rate_per_second = 10"


def with_api(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SHIPPED
    path = tmp_path / "config.toml"
    path.write_text(SHIPPED.replace(old, new, 1))
    return path


def test_the_shipped_limits_are_ten_a_second_after_a_burst_of_sixty() -> None:
    api = load_config(ROOT / "config.toml", environ={}).api
    assert (api.rate_per_second, api.burst) == (10.0, 60)
    default = load_config(ROOT / "bot" / "config" / "default.toml", environ={}).api
    assert (default.rate_per_second, default.burst) == (10.0, 60)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (LIMITS, "rate_per_second = 0", "api.rate_per_second"),
        (LIMITS, 'rate_per_second = "fast"', "api.rate_per_second"),
        ("burst = 60", "burst = 0", "api.burst"),
        ("burst = 60", "burst = 2.5", "api.burst"),
    ],
)
def test_a_bad_limit_names_its_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(with_api(tmp_path, old, new), environ={})
    assert caught.value.key == key, str(caught.value)


async def answers(api: Any, count: int) -> list[Any]:
    return [await api.call("GET", "/api/products") for _ in range(count)]


async def test_a_small_burst_from_config_gets_429_with_retry_after(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = with_api(tmp_path, LIMITS, "rate_per_second = 0.25\nburst = 3")
    path.write_text(path.read_text().replace("burst = 60", "", 1))
    read = load_config(path, environ={}).api
    config = api_config(db_url)
    api = await start_api(
        aiohttp_server, replace(config, api=replace(read, token=config.api.token)), http
    )
    got = await answers(api, 4)
    assert [a.status for a in got] == [200, 200, 200, 429]
    assert got[-1].body["error"]["code"] == "rate_limited"
    assert int(got[-1].headers["Retry-After"]) == math.ceil(1 / 0.25)  # one token at 0.25/s


async def test_a_raised_limit_lets_a_merchants_website_place_a_big_burst(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    config = api_config(db_url)
    config = replace(config, api=replace(config.api, rate_per_second=500.0, burst=150))
    api = await start_api(aiohttp_server, config, http)
    got = await answers(api, 150)
    assert {a.status for a in got} == {200}  # 150 > the shipped burst of 60
