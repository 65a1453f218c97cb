"""Accepted callbacks and chat updates leave no access line; everything else still does."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.access_log import QuietAccessLogger


def logged(path: str, status: int, level: int = logging.INFO) -> list[str]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(f"test.access.{path}.{status}.{level}")
    logger.setLevel(level)
    logger.addHandler(handler)
    access = QuietAccessLogger(logger, "%r %s")
    access.log(make_mocked_request("POST", path), web.Response(status=status), 0.001)
    return [r.getMessage() for r in records]


@pytest.mark.parametrize("path", ["/callbacks/sandbox", "/telegram/webhook"])
def test_an_accepted_callback_or_update_is_not_logged(path: str) -> None:
    assert logged(path, 200) == []


@pytest.mark.parametrize(
    ("path", "status"),
    [("/callbacks/sandbox", 401), ("/telegram/webhook", 403), ("/api/orders", 200)],
)
def test_refusals_and_other_routes_are_logged(path: str, status: int) -> None:
    [line] = logged(path, status)
    assert path in line and str(status) in line


def test_debug_logs_every_request() -> None:
    [line] = logged("/callbacks/sandbox", 200, logging.DEBUG)
    assert "/callbacks/sandbox" in line
